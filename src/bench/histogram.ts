// A log-linear latency histogram (HdrHistogram's bucketing): exact below 128 ns, then 64 linear
// sub-buckets per power of two, so every recorded value is within 1/64 (1.6%) of its bucket.
// Fixed memory, O(1) record, no allocation: safe inside the client's hot loop.

const subBits = 7;
const subCount = 1 << subBits; // values below this are their own bucket
const halfCount = subCount >> 1;
const exponentsMax = 40; // up to 2^47 ns (~39 hours)
const bucketCount = subCount + exponentsMax * halfCount;

function bucketOf(value: number): number {
  if (value < subCount) return value;
  const exponent = Math.floor(Math.log2(value)) - (subBits - 1); // value / 2^exponent in [64,128)
  const index = subCount + (exponent - 1) * halfCount + (Math.floor(value / 2 ** exponent) - halfCount);
  return Math.min(index, bucketCount - 1);
}

/** Smallest value that falls in bucket `index`. */
function lowerBound(index: number): number {
  if (index < subCount) return index;
  const exponent = Math.floor((index - subCount) / halfCount) + 1;
  return (halfCount + ((index - subCount) % halfCount)) * 2 ** exponent;
}

function upperBound(index: number): number {
  return index + 1 < bucketCount ? lowerBound(index + 1) - 1 : lowerBound(index);
}

export class Histogram {
  private readonly counts = new Float64Array(bucketCount);
  private total = 0;
  private sum = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = 0;

  /** Records a non-negative value (e.g. nanoseconds). */
  record(value: number): void {
    const v = value < 0 ? 0 : Math.round(value);
    this.counts[bucketOf(v)]! += 1;
    this.total += 1;
    this.sum += v;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.total === 0 ? 0 : this.maxValue;
  }

  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** Value at quantile q in [0,1]: the upper end of the bucket holding that rank, capped by max. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperBound(i), this.maxValue);
    }
    return this.maxValue;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < bucketCount; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.minValue = Number.POSITIVE_INFINITY;
    this.maxValue = 0;
  }

  /** Cumulative distribution points (value, fraction) for plots, one per non-empty bucket. */
  cdf(): { value: number; fraction: number }[] {
    const points: { value: number; fraction: number }[] = [];
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      const c = this.counts[i]!;
      if (c === 0) continue;
      seen += c;
      points.push({ value: Math.min(upperBound(i), this.maxValue), fraction: seen / this.total });
    }
    return points;
  }
}
