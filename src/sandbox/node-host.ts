import { readdir, readFile, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serviceClusterIpRange } from './kube-args.js';
import type { ToolRunner } from './maven.js';
import type { NodeDirs, NodeNetwork } from './node-config.js';
import { hasNodeRules, hostSysctls, mountsUnder, sysctlsToRestore, withoutNodeRules } from './node-teardown.js';

/**
 * The machine-level side of the real node: the bridge, the routes and iptables rules around it, kernel
 * settings, and undoing all of it together with whatever containerd and the kubelet mounted.
 */

/** Comment on every iptables rule the sandbox adds itself, so teardown finds exactly those. */
export function ruleMarker(net: NodeNetwork): string {
  return `swell-sandbox-${net.bridge}`;
}

/**
 * kube-proxy owns the machine's KUBE-* iptables chains, so one real node runs per machine. This file names the
 * state dir of the sandbox whose node runs now.
 */
export const machineOwnerFile = '/run/swell/real-node.owner';

/** Claims the machine for this sandbox's node; fails naming the other sandbox when it still runs one. */
export async function claimMachine(stateDir: string, bridgeOf: (stateDir: string) => string, run: ToolRunner): Promise<void> {
  const owner = (await readFile(machineOwnerFile, 'utf8').catch(() => '')).trim();
  if (owner && owner !== stateDir && (await linkExists(bridgeOf(owner), run))) {
    throw new Error(
      `another sandbox (${owner}) runs a real node on this machine, and kube-proxy's iptables chains are machine-wide; ` +
        `stop it first (swell dev down --state-dir ${owner}) or leave "node" out of --components`,
    );
  }
  await mkdir(join(machineOwnerFile, '..'), { recursive: true });
  await writeFile(machineOwnerFile, `${stateDir}\n`);
}

/** True when this sandbox's node is the one recorded as running, or none is. */
export async function ownsMachine(stateDir: string): Promise<boolean> {
  const owner = (await readFile(machineOwnerFile, 'utf8').catch(() => '')).trim();
  return owner === '' || owner === stateDir;
}

export async function releaseMachine(stateDir: string): Promise<void> {
  const owner = (await readFile(machineOwnerFile, 'utf8').catch(() => '')).trim();
  if (owner === stateDir) await rm(machineOwnerFile, { force: true });
}

/** Records the kernel settings the node will change, so teardown can put them back. */
export async function recordSysctls(file: string): Promise<void> {
  await writeFile(file, JSON.stringify(await readSysctls()));
}

async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of hostSysctls) {
    const value = await readFile(join('/proc/sys', key), 'utf8').catch(() => undefined);
    if (value !== undefined) values[key] = value.trim();
  }
  return values;
}

/**
 * The bridge with the gateway address, up before containerd so the kubelet can serve on the node IP at once; a
 * route sending the Service range into it (so a ClusterIP kube-proxy does not know goes nowhere rather than out
 * of the machine); and a FORWARD rule dropping what pods send anywhere but the bridge.
 */
export async function setUpBridge(net: NodeNetwork, run: ToolRunner): Promise<void> {
  const ip = (args: string[]) => run('ip', args, { timeoutMs: 10_000 });
  const overlap = (await ip(['-4', 'route', 'show', net.subnet])).trim();
  if (overlap && !overlap.includes(` dev ${net.bridge}`))
    throw new Error(`the pod subnet ${net.subnet} is already routed on this machine (${overlap}); choose another state dir`);
  if (!(await linkExists(net.bridge, run))) await ip(['link', 'add', net.bridge, 'type', 'bridge']);
  await ip(['addr', 'replace', `${net.gateway}/${net.subnet.split('/')[1] ?? '24'}`, 'dev', net.bridge]);
  await ip(['link', 'set', net.bridge, 'up']);
  await ip(['route', 'replace', serviceClusterIpRange, 'dev', net.bridge, 'src', net.gateway]);
  const marker = ruleMarker(net);
  const rule = ['FORWARD', '-i', net.bridge, '!', '-o', net.bridge, '-m', 'comment', '--comment', marker, '-j', 'DROP'];
  const present = await run('iptables', ['-C', ...rule], { timeoutMs: 10_000 }).then(
    () => true,
    () => false,
  );
  if (!present) await run('iptables', ['-I', ...rule], { timeoutMs: 10_000 });
}

async function linkExists(name: string, run: ToolRunner): Promise<boolean> {
  return run('ip', ['link', 'show', name], { timeoutMs: 10_000 }).then(
    () => true,
    () => false,
  );
}

/**
 * Stops every container of the node's containerd (pods' processes run under shims that outlive containerd),
 * while containerd still answers. Bounded: gives up on a task after a few seconds.
 */
export async function killContainers(socket: string, run: ToolRunner): Promise<void> {
  const ctr = (args: string[]) => run('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { timeoutMs: 15_000 });
  const tasks = (await ctr(['tasks', 'list', '--quiet']).catch(() => ''))
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  await Promise.all(tasks.map((id) => ctr(['tasks', 'kill', '--all', '--signal', 'SIGKILL', id]).catch(() => '')));
  for (const id of tasks) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      if (
        await ctr(['tasks', 'delete', id]).then(
          () => true,
          () => false,
        )
      )
        break;
      await sleep(250);
    }
  }
  const containers = (await ctr(['containers', 'list', '--quiet']).catch(() => ''))
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (containers.length > 0) await ctr(['containers', 'delete', ...containers]).catch(() => '');
}

/** Kills shims still serving the node's containerd socket (after an unclean stop), by their command line. */
export async function killStrayShims(socket: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(join('/proc', entry, 'cmdline'), 'utf8').catch(() => '');
    const exe = await readlink(join('/proc', entry, 'exe')).catch(() => '');
    if (exe.includes('containerd-shim') && cmdline.split('\0').includes(socket)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/**
 * Undoes the node's footprint on the machine: mounts under its folder (container root filesystems, pod volumes,
 * pinned network namespaces, whose veths vanish with them), the bridge and its route, kube-proxy's and the
 * kubelet's iptables chains and the sandbox's own rule, and the kernel settings recorded at start.
 */
export async function tearDownHost(dirs: NodeDirs, net: NodeNetwork, sysctlFile: string, run: ToolRunner, machineWide: boolean): Promise<void> {
  await unmountAll(dirs.root, run);
  await removeFilesOutsideStateDir(dirs, net);
  await run('ip', ['route', 'del', serviceClusterIpRange, 'dev', net.bridge], { timeoutMs: 10_000 }).catch(() => '');
  await run('ip', ['link', 'del', net.bridge], { timeoutMs: 10_000 }).catch(() => '');
  if (!machineWide) return;
  for (const family of ['iptables', 'ip6tables']) await dropNodeRules(family, ruleMarker(net), run);
  await restoreSysctls(sysctlFile);
}

/**
 * What the CNI library and the kubelet write to fixed machine paths whatever their configured folders: cached
 * CNI results per pod sandbox, and /var/log/containers links into the pod log folder.
 */
async function removeFilesOutsideStateDir(dirs: NodeDirs, net: NodeNetwork): Promise<void> {
  const sandboxes = await readdir(join(dirs.containerdState, 'io.containerd.grpc.v1.cri', 'sandboxes')).catch(() => [] as string[]);
  const results = '/var/lib/cni/results';
  for (const file of await readdir(results).catch(() => [] as string[])) {
    if (file.startsWith(`${net.name}-`) || sandboxes.some((id) => file.includes(`-${id}-`))) await rm(join(results, file), { force: true });
  }
  const links = '/var/log/containers';
  for (const file of await readdir(links).catch(() => [] as string[])) {
    const target = await readlink(join(links, file)).catch(() => '');
    if (target.startsWith(`${dirs.podLogs}/`)) await rm(join(links, file), { force: true });
  }
}

async function unmountAll(root: string, run: ToolRunner): Promise<void> {
  for (let round = 0; round < 5; round += 1) {
    const points = mountsUnder(await readFile('/proc/self/mountinfo', 'utf8'), root);
    if (points.length === 0) return;
    for (const point of points) {
      await run('umount', [point], { timeoutMs: 10_000 }).catch(() => run('umount', ['-l', point], { timeoutMs: 10_000 }).catch(() => ''));
    }
  }
}

async function dropNodeRules(family: string, marker: string, run: ToolRunner): Promise<void> {
  const save = await run(`${family}-save`, [], { timeoutMs: 10_000 }).catch(() => '');
  if (!save || !hasNodeRules(save, marker)) return;
  const file = join('/tmp', `swell-${family}-${process.pid}.rules`);
  await writeFile(file, withoutNodeRules(save, marker));
  try {
    await run(`${family}-restore`, [file], { timeoutMs: 10_000 });
  } finally {
    await rm(file, { force: true });
  }
}

async function restoreSysctls(file: string): Promise<void> {
  let before: Record<string, string>;
  try {
    before = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
  } catch {
    return;
  }
  for (const [key, value] of sysctlsToRestore(before, await readSysctls())) {
    await writeFile(join('/proc/sys', key), value).catch(() => undefined);
  }
  await rm(file, { force: true });
}
