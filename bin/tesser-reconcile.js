#!/usr/bin/env node
// Launches the TypeScript CLI through tsx's loader, so the package runs from source without a build step.
import { register } from 'tsx/esm/api';

register();
const { runAsProcess } = await import('../src/cli/main.ts');
await runAsProcess();
