#!/usr/bin/env node
// The `clipmask` command. The project is TypeScript run through tsx, so this
// shim registers tsx's loader and hands over to the CLI module.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
