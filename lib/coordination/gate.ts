// In-process exclusion per lock name within one coordinator: a FIFO turnstile
// in front of the server. A PostgreSQL session's advisory locks are reentrant
// and a Redis key cannot tell two objects of one member apart by itself, so
// two lock objects of one coordinator must not both ask the server at once;
// the gate also lets only the first local waiter poll the server.

interface Entry {
  resolve: () => void
}

export class Gate {
  #busy = false
  readonly #queue: Entry[] = []
  readonly #onIdle: () => void

  constructor (onIdle: () => void) {
    this.#onIdle = onIdle
  }

  get idle (): boolean { return !this.#busy && this.#queue.length === 0 }

  /** Enters if no one is inside or queued. */
  tryEnter (): boolean {
    if (this.#busy || this.#queue.length > 0) return false
    this.#busy = true
    return true
  }

  /** Enters in FIFO order; rejects with the signal's reason if it aborts first. */
  enter (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    if (this.tryEnter()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const entry: Entry = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
      }
      const onAbort = (): void => {
        const index = this.#queue.indexOf(entry)
        if (index >= 0) this.#queue.splice(index, 1)
        if (this.idle) this.#onIdle()
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(entry)
    })
  }

  /** Lets the next one in. */
  leave (): void {
    const next = this.#queue.shift()
    if (next !== undefined) {
      next.resolve()
      return
    }
    this.#busy = false
    this.#onIdle()
  }
}

/** Gates by name, dropped when idle. */
export class Gates {
  readonly #gates = new Map<string, Gate>()

  get (name: string): Gate {
    let gate = this.#gates.get(name)
    if (gate === undefined) {
      const created: Gate = new Gate(() => {
        if (created.idle && this.#gates.get(name) === created) this.#gates.delete(name)
      })
      gate = created
      this.#gates.set(name, gate)
    }
    return gate
  }

  get size (): number { return this.#gates.size }
}
