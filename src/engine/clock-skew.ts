/**
 * What the engine learns of the exchange clock's skew: a time the venue stamped on its clock (an order it
 * acknowledged, its server time) was taken between our request leaving (`sentAt`) and its answer arriving
 * (`receivedAt`), both on ours, so its clock is at least `stamp − receivedAt` ahead of ours, or `sentAt − stamp`
 * behind. Beyond `maxClockSkewMs` the snapshot-window race rules are too narrow for this host (a trade counted twice,
 * or never: docs/policies.md): logged as `clock.skew`, once per new extreme.
 */
import type { Millis } from '../domain/clock.js';
import type { Logger } from '../logging/types.js';

export class SkewWatch {
  /** The skew beyond the bound last reported, so that each new extreme is logged once. */
  private reported = 0;

  constructor(
    private readonly logger: Logger,
    private readonly maxClockSkewMs: number,
  ) {}

  /** `stamp` (the exchange's clock) was taken between `sentAt` and `receivedAt` (ours); `what` names it for the log. */
  observe(stamp: Millis, sentAt: Millis, receivedAt: Millis, what: string): void {
    if (!Number.isFinite(stamp)) return;
    const ahead = stamp - receivedAt;
    const behind = sentAt - stamp;
    const beyond = Math.max(ahead, behind);
    if (beyond <= this.maxClockSkewMs || beyond <= this.reported) return;
    this.reported = beyond;
    const bound = this.maxClockSkewMs;
    this.logger.warn(
      { event: 'clock.skew', skewMs: ahead > behind ? ahead : -behind, maxClockSkewMs: bound },
      `the exchange's clock is at least ${beyond} ms ${ahead > behind ? 'ahead of' : 'behind'} ours (${what} ${stamp}, asked ${sentAt}, answered ${receivedAt}), beyond maxClockSkewMs ${bound}: sync this host's clock or raise the bound`,
    );
  }
}
