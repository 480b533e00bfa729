// One AbortSignal for everything that can end a wait: the caller's signal, the
// coordinator stopping, and a timeout. (AbortSignal.any needs Node 20.3.)
import { LockTimeoutError } from '../errors'

export class WaitScope {
  readonly #controller = new AbortController()
  readonly #cleanups: Array<() => void> = []

  constructor (name: string, timeout: number | undefined, signals: ReadonlyArray<AbortSignal | undefined>) {
    for (const signal of signals) {
      if (signal === undefined) continue
      if (signal.aborted) {
        this.#controller.abort(signal.reason)
        break
      }
      const onAbort = (): void => this.#controller.abort(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#cleanups.push(() => signal.removeEventListener('abort', onAbort))
    }
    if (timeout !== undefined && !this.#controller.signal.aborted) {
      const timer = setTimeout(() => this.#controller.abort(new LockTimeoutError(name, timeout)), timeout)
      this.#cleanups.push(() => clearTimeout(timer))
    }
  }

  get signal (): AbortSignal { return this.#controller.signal }

  throwIfAborted (): void {
    if (this.#controller.signal.aborted) throw this.#controller.signal.reason
  }

  dispose (): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup()
  }
}

/** Resolves after `ms`, or rejects with the signal's reason. */
export function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
