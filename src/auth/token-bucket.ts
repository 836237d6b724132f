/**
 * Token buckets kept in a bounded map: `rate` tokens a second up to `burst`, refilled continuously. A bucket idle long
 * enough to be full again says nothing and may be forgotten; the least recently used go first when the map is full.
 */

export interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, ms. */
  at: number;
}

export interface Rate {
  /** Tokens a second; 0 = unlimited. */
  rate: number;
  /** Most tokens a bucket holds. */
  burst: number;
}

/** The bucket's tokens as of `now`. */
export function refill(bucket: Bucket, { rate, burst }: Rate, now: number): number {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
  bucket.at = now;
  return bucket.tokens;
}

export class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(
    readonly limit: Rate,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The key's bucket, refilled to `now`, made full when new; most recently used last. */
  get(key: string, now: number): Bucket {
    let bucket = this.map.get(key);
    if (bucket === undefined) {
      this.prune(now);
      bucket = { tokens: this.limit.burst, at: now };
    } else {
      refill(bucket, this.limit, now);
      this.map.delete(key);
    }
    this.map.set(key, bucket);
    return bucket;
  }

  /** Takes one token when there is one; false when the bucket is empty. */
  take(key: string, now: number): boolean {
    const bucket = this.get(key, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  /** Forgets full buckets from the least recently used end, and the oldest while over the cap. */
  private prune(now: number): void {
    const { rate, burst } = this.limit;
    const fullAfter = rate > 0 ? (burst / rate) * 1000 : Infinity;
    for (const [key, bucket] of this.map) {
      if (this.map.size < this.max && now - bucket.at < fullAfter) return;
      this.map.delete(key);
    }
  }
}
