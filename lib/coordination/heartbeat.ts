// A periodic task that never overlaps itself: the next beat is scheduled when
// the previous one has finished, so a slow server delays beats instead of
// piling them up. The timer does not keep the process alive on its own.

export class Heartbeat {
  readonly interval: number
  readonly #beat: () => Promise<void>
  readonly #onError: (error: unknown) => void
  #timer: NodeJS.Timeout | undefined
  #running = false
  #stopped = true

  constructor (interval: number, beat: () => Promise<void>, onError: (error: unknown) => void) {
    this.interval = interval
    this.#beat = beat
    this.#onError = onError
  }

  get running (): boolean { return !this.#stopped }

  start (): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#schedule(this.interval)
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Beats now (unless a beat is in progress), then keeps the usual rhythm. */
  beatNow (): void {
    if (this.#stopped || this.#running) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#schedule(0)
  }

  #schedule (delay: number): void {
    this.#timer = setTimeout(() => { void this.#run() }, delay)
    this.#timer.unref()
  }

  async #run (): Promise<void> {
    this.#timer = undefined
    this.#running = true
    try {
      await this.#beat()
    } catch (error) {
      this.#onError(error)
    } finally {
      this.#running = false
    }
    if (!this.#stopped) this.#schedule(this.interval)
  }
}
