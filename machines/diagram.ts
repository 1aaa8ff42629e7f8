/**
 * The lifecycle diagram, generated from the machine itself: a Mermaid `stateDiagram-v2` built by walking
 * `engineMachine.root` (nested states, initial states, final states, event transitions with their guards, invoked
 * actors' done/error transitions, delayed transitions, and the events a state handles without leaving it). Pure and
 * deterministic: the same machine gives the same text, so docs/architecture.md can embed it and a test can tell
 * when the committed copy is stale (`npm run docs` rewrites it).
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { engineMachine } from './engine.machine.js';

/** One edge of the diagram, in the order the machine declares it. */
export interface DiagramEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
}

// The minimal shape of a transition definition this module reads (xstate's own type is wider and generic).
interface TransitionLike {
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly eventType: string;
}

const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const DONE_STATE = 'xstate.done.state.';
const AFTER = 'xstate.after.';

/** The Mermaid id of a state node: its path below the root, joined with `_` (Mermaid ids cannot contain dots). */
function mermaidId(node: AnyStateNode): string {
  return node.path.join('_');
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  // An inline guard function: its name if it has one.
  if (typeof guard === 'function') return guard.name === '' ? 'guard' : guard.name;
  return 'guard';
}

/** The readable name of an event type: `done loadState`, `error flush`, `after startupRetryDelay`, or the type. */
function eventLabel(node: AnyStateNode, eventType: string): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith(DONE_ACTOR)) return `done ${eventType.slice(DONE_ACTOR.length)}`;
  if (eventType.startsWith(ERROR_ACTOR)) return `error ${eventType.slice(ERROR_ACTOR.length)}`;
  if (eventType.startsWith(DONE_STATE)) return 'done';
  if (eventType.startsWith(AFTER)) {
    const after = node.after.find((a) => a.eventType === eventType);
    const delay = after?.delay;
    return `after ${typeof delay === 'number' ? `${delay} ms` : String(delay ?? eventType.slice(AFTER.length))}`;
  }
  return eventType;
}

/**
 * Labels of a list of transitions for one event, tried in order: the first guarded one shows `[guard]`, and an
 * unguarded one after guarded ones shows `[else]`, so the branch order of the machine is visible in the picture.
 */
function branchLabel(base: string, t: TransitionLike, index: number): string {
  const g = guardName(t.guard);
  if (g !== undefined) return `${base} [${g}]`;
  return index > 0 ? `${base} [else]` : base;
}

function transitionsOf(node: AnyStateNode): [string, readonly TransitionLike[]][] {
  const out: [string, readonly TransitionLike[]][] = Object.entries(
    node.on as Record<string, readonly TransitionLike[]>,
  );
  // Eventless transitions live apart from `on`.
  const always = (node as { always?: readonly TransitionLike[] }).always;
  if (always !== undefined && always.length > 0) out.push(['', always]);
  return out;
}

/** Every transition with a target, in declaration order (states depth first, then their events in order). */
export function lifecycleEdges(machine: AnyStateMachine = engineMachine): DiagramEdge[] {
  const edges: DiagramEdge[] = [];
  const visit = (node: AnyStateNode): void => {
    if (node !== machine.root) {
      for (const [eventType, list] of transitionsOf(node)) {
        const base = eventLabel(node, eventType);
        list.forEach((t, i) => {
          for (const target of t.target ?? [])
            edges.push({ from: mermaidId(node), to: mermaidId(target), label: branchLabel(base, t, i) });
        });
      }
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return edges;
}

/** Description lines of a state: the actors it invokes, and the events it handles without changing state. */
function descriptions(node: AnyStateNode): string[] {
  const lines: string[] = [];
  for (const inv of node.invoke) lines.push(`invoke ${inv.id}`);
  const internal: string[] = [];
  for (const [eventType, list] of transitionsOf(node)) {
    list.forEach((t, i) => {
      if (t.target === undefined || t.target.length === 0)
        internal.push(branchLabel(eventLabel(node, eventType), t, i));
    });
  }
  // Mermaid draws one description line per statement; one line per event keeps long lists readable.
  for (const e of internal) lines.push(`on ${e}`);
  return lines;
}

/**
 * The lifecycle as Mermaid `stateDiagram-v2` text (no code fence). States are declared first (compound states as
 * blocks, each with its initial state), then every edge at the top level, where Mermaid allows edges that cross
 * block boundaries. A final state gets an edge to `[*]` in its own block.
 */
export function lifecycleMermaid(machine: AnyStateMachine = engineMachine): string {
  const lines: string[] = ['stateDiagram-v2'];
  const declare = (node: AnyStateNode, depth: number): void => {
    const pad = '    '.repeat(depth);
    const id = mermaidId(node);
    const children = Object.values(node.states);
    // A display name equal to the key; the id carries the path so nested keys cannot collide.
    const named = id === node.key ? id : `"${node.key}" as ${id}`;
    if (children.length === 0) {
      lines.push(`${pad}state ${named}`);
    } else {
      lines.push(`${pad}state ${named} {`);
      for (const target of node.initial?.target ?? []) lines.push(`${pad}    [*] --> ${mermaidId(target)}`);
      for (const c of children) declare(c, depth + 1);
      lines.push(`${pad}}`);
    }
    const desc = descriptions(node);
    if (children.length === 0) for (const d of desc) lines.push(`${pad}${id} : ${d}`);
    else if (desc.length > 0) {
      // Mermaid refuses descriptions on a composite state; a note beside it carries the same lines.
      lines.push(`${pad}note right of ${id}`, ...desc.map((d) => `${pad}    ${d}`), `${pad}end note`);
    }
    // Inside its parent's block, `[*]` is that block's end: a nested final state ends its parent, not the machine.
    if (node.type === 'final') lines.push(`${pad}${id} --> [*]`);
  };
  const root = machine.root;
  for (const target of root.initial?.target ?? []) lines.push(`    [*] --> ${mermaidId(target)}`);
  for (const c of Object.values(root.states)) declare(c, 1);
  for (const e of lifecycleEdges(machine)) lines.push(`    ${e.from} --> ${e.to} : ${e.label}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The engine's actor tree as a Mermaid flowchart: the engine actor, its `handlers` child and one node per kind of
 * handler actor (its machine id, the id each actor gets, what there is one per, what feeds it, and what it proposes
 * in which state).
 */
export function actorTreeMermaid(
  kinds: readonly {
    readonly machine: AnyStateMachine;
    readonly id: string;
    readonly onePer: string;
    readonly fedBy: string;
    readonly proposes: { readonly in: string; readonly action: string };
  }[],
): string {
  const lines = ['flowchart TD', `    ${engineMachine.id}["${engineMachine.id}"] --> handlers["handlers"]`];
  for (const k of kinds) {
    const states = Object.keys(k.machine.root.states).join(', ');
    lines.push(
      `    handlers -->|"one per ${k.onePer}"| ${k.machine.id}["${k.id}<br/>${k.machine.id} machine: ${states}"]`,
    );
    lines.push(`    ${k.machine.id}_in(["${k.fedBy}"]) -.-> ${k.machine.id}`);
    lines.push(
      `    ${k.machine.id} -.->|"in ${k.proposes.in}, proposes"| ${k.machine.id}_out(["${k.proposes.action}"])`,
    );
  }
  return `${lines.join('\n')}\n`;
}
