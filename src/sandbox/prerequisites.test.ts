import { describe, expect, it } from 'vitest';
import { defaultComponents } from './components.js';
import { ensurePrerequisites, goRequirement, planPrerequisites, PrerequisiteError, staticRequirements, type Requirement } from './prerequisites.js';

const redis = staticRequirements.redis[0];
const containerd: Requirement = { command: 'containerd', aptPackage: 'containerd' };
const ctr: Requirement = { command: 'ctr', aptPackage: 'containerd' };

describe('planPrerequisites', () => {
  it('goes on when nothing is missing', () => {
    expect(planPrerequisites([], false)).toEqual({ kind: 'ready' });
    expect(planPrerequisites([], true)).toEqual({ kind: 'ready' });
  });

  it('installs the missing Debian packages itself when root, each package once', () => {
    expect(planPrerequisites([redis, containerd, ctr], true)).toEqual({ kind: 'install', packages: ['containerd', 'redis-server'] });
  });

  it('stops at once with the one apt-get command when not root', () => {
    const plan = planPrerequisites([redis, containerd, ctr], false);
    expect(plan.kind).toBe('stop');
    const message = plan.kind === 'stop' ? plan.message : '';
    expect(message).toContain('missing prerequisites: redis-server, containerd, ctr');
    expect(message.match(/apt-get install/g)).toHaveLength(1);
    expect(message).toContain('sudo apt-get install -y --no-install-recommends containerd redis-server');
  });

  it('stops, even as root, when something Debian does not package is missing, and says how to get it', () => {
    const plan = planPrerequisites([goRequirement, redis], true);
    expect(plan.kind).toBe('stop');
    const message = plan.kind === 'stop' ? plan.message : '';
    expect(message).toContain('go: install Go >= 1.26');
    expect(message).toContain('\n  apt-get install -y --no-install-recommends redis-server');
    expect(message).not.toContain('sudo');
  });
});

describe('ensurePrerequisites', () => {
  it('runs apt-get update and install as root, reporting progress, then checks again', async () => {
    let installed = false;
    const apt: string[][] = [];
    const progress: string[] = [];
    await ensurePrerequisites([redis], {
      root: true,
      progress: (m) => progress.push(m),
      runApt: (args) => {
        apt.push([...args]);
        if (args[0] === 'install') installed = true;
        return Promise.resolve();
      },
      findMissing: (r) => Promise.resolve(installed ? [] : [...r]),
    });
    expect(apt).toEqual([
      ['update', '-qq'],
      ['install', '-y', '--no-install-recommends', 'redis-server'],
    ]);
    expect(progress).toEqual(['installing Debian packages redis-server (apt-get, as root)']);
  });

  it('fails when apt-get ran but the program is still not there', async () => {
    const run = ensurePrerequisites([redis], { root: true, progress: () => {}, runApt: () => Promise.resolve(), findMissing: (r) => Promise.resolve([...r]) });
    await expect(run).rejects.toThrow(/still missing after apt-get install: redis-server/);
  });

  it('never calls apt-get when not root', async () => {
    let called = false;
    const run = ensurePrerequisites([redis], {
      root: false,
      progress: () => {},
      runApt: () => {
        called = true;
        return Promise.resolve();
      },
      findMissing: (r) => Promise.resolve([...r]),
    });
    await expect(run).rejects.toBeInstanceOf(PrerequisiteError);
    expect(called).toBe(false);
  });
});

describe('defaultComponents', () => {
  it('starts the real node by default only as root', () => {
    expect(defaultComponents(true)).toContain('node');
    expect(defaultComponents(false)).not.toContain('node');
    expect(defaultComponents(false)).toContain('kube');
  });

  it('lists every real-node program the node needs, each with its Debian package', () => {
    const packages = new Set(staticRequirements.node.map((r) => r.aptPackage));
    for (const p of ['containerd', 'runc', 'containernetworking-plugins', 'umoci', 'busybox-static', 'iptables', 'conntrack', 'socat'])
      expect(packages).toContain(p);
  });
});
