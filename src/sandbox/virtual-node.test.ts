import { describe, expect, it } from 'vitest';
import { cliEntry } from './virtual-node.js';

describe('cliEntry', () => {
  it('runs the TypeScript CLI under tsx when the sandbox itself runs from sources', () => {
    expect(cliEntry('/repo', 'file:///repo/src/sandbox/virtual-node.ts')).toEqual(['--import', 'tsx', '/repo/src/cli/main.ts']);
  });

  it('runs the compiled CLI when the sandbox runs from dist/', () => {
    expect(cliEntry('/repo', 'file:///repo/dist/src/sandbox/virtual-node.js')).toEqual(['/repo/bin/swell.js']);
  });
});
