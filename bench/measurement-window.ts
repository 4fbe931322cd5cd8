import { percentile } from './environment.js';

/**
 * A load generator's measured window: whether samples count now, how long it lasted, and how
 * far the generator's own schedule lagged inside it (a generator that falls behind measures
 * itself, not the server).
 */
export class MeasurementWindow {
  private measuringNow = false;
  private startedAt = 0;
  private stoppedAt = 0;
  private readonly lagMs: number[] = [];

  get measuring(): boolean {
    return this.measuringNow;
  }

  start(): void {
    this.measuringNow = true;
    this.startedAt = performance.now();
  }

  stop(): void {
    this.measuringNow = false;
    this.stoppedAt = performance.now();
  }

  /** A keystroke typed `ms` after it was due (counted only while measuring). */
  noteLag(ms: number): void {
    if (this.measuringNow) this.lagMs.push(ms);
  }

  get seconds(): number {
    return (this.stoppedAt - this.startedAt) / 1000;
  }

  get lagP99Ms(): number {
    return percentile([...this.lagMs].sort((a, b) => a - b), 99);
  }
}
