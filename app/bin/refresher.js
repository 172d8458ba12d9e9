#!/usr/bin/env node
// Runs the TypeScript entry point from a checkout (`npx refresher <role>`, `npm start`).
// The production image runs the esbuild bundle instead and never loads tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
