// A waiter's view of release notifications for one name. A notification that
// arrives while the waiter is busy trying is remembered, so the next wait
// returns at once instead of sleeping through it.
import type { Watch } from './session'

export class ChannelWatch implements Watch {
  #pending = false
  #wake: (() => void) | undefined
  readonly #onClose: (watch: ChannelWatch) => void

  constructor (onClose: (watch: ChannelWatch) => void) {
    this.#onClose = onClose
  }

  notify (): void {
    this.#pending = true
    this.#wake?.()
  }

  /** Forgets a remembered notification (it was about something no longer waited for). */
  discard (): void {
    this.#pending = false
  }

  wait (ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    if (this.#pending) {
      this.#pending = false
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.#wake = undefined
        this.#pending = false
      }
      const onAbort = (): void => {
        done()
        reject(signal.reason)
      }
      const timer = setTimeout(() => { done(); resolve() }, ms)
      this.#wake = () => { done(); resolve() }
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  close (): void {
    this.#onClose(this)
  }
}
