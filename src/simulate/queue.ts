/*
 * The work queue as a fluid FIFO: items arrive in batches at whole instants, and Running replicas drain the
 * head at `rate` items per second between events. Each served portion's wait (service time minus arrival time)
 * goes into a histogram, so percentiles cost the same whether the run lasts a minute or a month.
 */

/** Histogram bins: 0.1 s wide below 100 s, 1 s below 10 000 s, 1 min beyond (waits are rounded up to them). */
const fineBins = 1000;
const mediumBins = 9900;

function binOf(wait: number): number {
  if (wait <= 100) return Math.max(0, Math.ceil(wait * 10 - 1e-9));
  if (wait <= 10_000) return fineBins + Math.ceil(wait - 100 - 1e-9);
  return fineBins + mediumBins + Math.ceil((wait - 10_000) / 60 - 1e-9);
}

function upperEdgeOf(bin: number): number {
  if (bin <= fineBins) return bin / 10;
  if (bin <= fineBins + mediumBins) return 100 + (bin - fineBins);
  return 10_000 + (bin - fineBins - mediumBins) * 60;
}

export class WaitHistogram {
  private counts = new Float64Array(fineBins + mediumBins + 1);
  private total = 0;

  add(waitSeconds: number, weight: number): void {
    if (weight <= 0) return;
    const bin = binOf(Math.max(0, waitSeconds));
    if (bin >= this.counts.length) this.grow(bin);
    this.counts[bin] = (this.counts[bin] ?? 0) + weight;
    this.total += weight;
  }

  get weight(): number {
    return this.total;
  }

  /** The wait at or below which `p` percent of the work waited (a bin's upper edge); 0 with no work. */
  percentile(p: number): number {
    if (this.total <= 0) return 0;
    const wanted = (p / 100) * this.total - 1e-9 * this.total;
    let seen = 0;
    let last = 0;
    for (let bin = 0; bin < this.counts.length; bin += 1) {
      const count = this.counts[bin] ?? 0;
      if (count === 0) continue;
      seen += count;
      last = bin;
      if (seen >= wanted) return upperEdgeOf(bin);
    }
    return upperEdgeOf(last);
  }

  /** Share of the work (0..1) that waited longer than `seconds`. */
  shareAbove(seconds: number): number {
    if (this.total <= 0) return 0;
    let above = 0;
    for (let bin = binOf(seconds) + 1; bin < this.counts.length; bin += 1) above += this.counts[bin] ?? 0;
    return above / this.total;
  }

  private grow(bin: number): void {
    const bigger = new Float64Array(Math.max(bin + 1, this.counts.length * 2));
    bigger.set(this.counts);
    this.counts = bigger;
  }
}

// A served portion is split into pieces of at most this long, so a big batch spreads over the histogram.
const pieceSeconds = 0.5;
const maxPieces = 64;

export class WorkQueue {
  private readonly times: number[] = [];
  private readonly amounts: number[] = [];
  private head = 0;
  private depth = 0;
  private peak = 0;
  private overSlo = 0;
  readonly waits = new WaitHistogram();

  /** @param sloSeconds the wait beyond which the head of the queue counts as late (for `secondsOverSlo`). */
  constructor(private readonly sloSeconds: number) {}

  get backlog(): number {
    return this.depth;
  }

  get peakBacklog(): number {
    return this.peak;
  }

  /** Seconds during which the oldest waiting item had waited longer than the SLO. */
  get secondsOverSlo(): number {
    return this.overSlo;
  }

  arrive(at: number, amount: number): void {
    if (amount <= 0) return;
    this.times.push(at);
    this.amounts.push(amount);
    this.depth += amount;
    if (this.depth > this.peak) this.peak = this.depth;
  }

  /** Drains the queue from `from` to `to` at `rate` items per second (all Running replicas together). */
  serve(from: number, to: number, rate: number): void {
    let now = from;
    while (now < to && this.head < this.times.length) {
      const arrived = this.times[this.head] ?? 0;
      const left = this.amounts[this.head] ?? 0;
      const canServe = rate > 0 ? (to - now) * rate : 0;
      const take = Math.min(left, canServe);
      const done = rate > 0 ? now + take / rate : to;
      this.countLate(arrived, now, take >= left ? done : to);
      if (take > 0) this.recordWaits(arrived, now, done, take);
      this.depth -= take;
      if (take >= left) {
        this.head += 1;
        now = done;
      } else {
        this.amounts[this.head] = left - take;
        now = to;
      }
    }
    if (this.head > 4096 && this.head * 2 > this.times.length) this.compact();
    if (this.depth < 1e-9) this.depth = 0;
  }

  private countLate(arrived: number, from: number, to: number): void {
    const lateFrom = Math.max(from, arrived + this.sloSeconds);
    if (to > lateFrom) this.overSlo += to - lateFrom;
  }

  private recordWaits(arrived: number, from: number, to: number, amount: number): void {
    const pieces = Math.min(maxPieces, Math.max(1, Math.ceil((to - from) / pieceSeconds)));
    const width = (to - from) / pieces;
    for (let i = 0; i < pieces; i += 1) this.waits.add(from + (i + 0.5) * width - arrived, amount / pieces);
  }

  private compact(): void {
    this.times.splice(0, this.head);
    this.amounts.splice(0, this.head);
    this.head = 0;
  }
}
