import { defineConfig } from 'vitest/config';

// Unit tests live beside the code they test; integration and end-to-end suites live in test/ and run
// against the real servers that test/setup/sandbox.ts starts (only those their files ask for). The fault suite
// (test/faults) kills and hangs those servers and the operator; like integration and e2e it runs one file at a
// time, so no other file sees a server down. FAULTS_FULL=1 (`npm run test:faults`) runs more rounds.
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'scalers/**/*.test.ts', 'test/unit/**/*.test.ts'],
          globalSetup: ['test/setup/compiled-cli.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/sandbox.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/sandbox.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/sandbox.ts', 'test/faults/setup.ts'],
          testTimeout: process.env.FAULTS_FULL === '1' ? 1_200_000 : 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
