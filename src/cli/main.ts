/** CLI entry point. The demo lands with the CLI issue; until then this says so plainly. */
process.stderr.write('tesser-reconcile demo: not yet implemented (lands with the CLI/demo issue)\n');
process.exitCode = 1;
