/**
 * Pure decisions for putting the machine back as it was after the real node: which mounts to undo, which
 * iptables rules to drop, which kernel settings to restore.
 */

/**
 * Mount points at or below `prefix`, deepest first (so a mount is undone before the one it sits on), from the
 * text of /proc/self/mountinfo. Paths there escape space, tab, newline and backslash as octal (\040 ...).
 */
export function mountsUnder(mountinfo: string, prefix: string): string[] {
  const base = prefix.replace(/\/+$/, '');
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (point === base || point.startsWith(`${base}/`)) points.add(point);
  }
  // A point mounted twice appears once per mount in mountinfo; unmounting it once per appearance is handled by
  // the caller repeating until none is left, so one entry each is enough here.
  return [...points].sort((a, b) => depth(b) - depth(a) || b.localeCompare(a));
}

function depth(path: string): number {
  return path.split('/').length;
}

/**
 * The iptables-save text without what the real node added: kube-proxy's and the kubelet's KUBE-* chains and
 * every rule that jumps to them, and the rules carrying `marker` in their comment. Tables keep their order and
 * everything else; the result is input for iptables-restore.
 */
export function withoutNodeRules(save: string, marker: string): string {
  const kept: string[] = [];
  for (const line of save.split('\n')) {
    if (/^:KUBE-/.test(line)) continue;
    if (/^-A KUBE-/.test(line)) continue;
    if (/^-A \S+ .*-j KUBE-/.test(line)) continue;
    if (line.startsWith('-A ') && line.includes(marker)) continue;
    kept.push(line);
  }
  return kept.join('\n');
}

/** True when the save text holds anything withoutNodeRules would drop, so a clean machine is left untouched. */
export function hasNodeRules(save: string, marker: string): boolean {
  return withoutNodeRules(save, marker) !== save;
}

/** Kernel settings the node changes: the CNI bridge turns on forwarding; the kubelet sets its tunables. */
export const hostSysctls = [
  'net/ipv4/ip_forward',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

/** The settings whose value now differs from the one recorded before the node started, with the old value. */
export function sysctlsToRestore(before: Readonly<Record<string, string>>, now: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(before).filter(([key, value]) => now[key] !== undefined && now[key] !== value);
}
