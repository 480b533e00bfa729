// The parent's side of bench/agent.ts: start an agent process, send commands,
// read its replies in order, and kill it whatever state it is in.
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'

export interface Reply { event: string, [key: string]: any }

export class Agent {
  readonly child: ChildProcess
  readonly #replies: Reply[] = []
  readonly #waiting: Array<{ resolve: (reply: Reply) => void, reject: (error: Error) => void }> = []
  #exited: Error | undefined

  static async start (contender: string, path: string): Promise<Agent> {
    const agent = new Agent()
    await agent.next()
    const ready = await agent.send({ cmd: 'init', contender, path })
    if (ready.event !== 'ready') throw new Error(`agent did not start: ${JSON.stringify(ready)}`)
    return agent
  }

  private constructor () {
    this.child = fork(join(__dirname, 'agent.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (reply: Reply) => {
      const next = this.#waiting.shift()
      if (next !== undefined) next.resolve(reply)
      else this.#replies.push(reply)
    })
    this.child.on('exit', (code, signal) => {
      this.#exited = new Error(`agent exited (${signal ?? code})`)
      for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#exited)
    })
  }

  /** Sends a command and waits for the next reply. */
  async send (message: Record<string, unknown>, timeoutMs?: number): Promise<Reply> {
    const reply = this.next(timeoutMs)
    this.post(message)
    return await reply
  }

  post (message: Record<string, unknown>): void {
    this.child.send(message)
  }

  /** The next reply; an `error` reply or a time-out rejects. */
  next (timeoutMs?: number): Promise<Reply> {
    const queued = this.#replies.shift()
    if (queued !== undefined) return queued.event === 'error' ? Promise.reject(new Error(queued.message)) : Promise.resolve(queued)
    if (this.#exited !== undefined) return Promise.reject(this.#exited)
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const entry = {
        resolve: (reply: Reply) => {
          clearTimeout(timer)
          if (reply.event === 'error') reject(new Error(reply.message))
          else resolve(reply)
        },
        reject: (error: Error) => { clearTimeout(timer); reject(error) }
      }
      this.#waiting.push(entry)
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const index = this.#waiting.indexOf(entry)
          if (index >= 0) this.#waiting.splice(index, 1)
          reject(new TimeoutError(timeoutMs))
        }, timeoutMs)
      }
    })
  }

  async kill (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }
}

export class TimeoutError extends Error {
  constructor (readonly ms: number) {
    super(`no reply within ${ms} ms`)
  }
}

/** Starts `count` agents at once; if one fails, the others are killed. */
export async function startAgents (count: number, contender: string, path: string): Promise<Agent[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => Agent.start(contender, path)))
  const agents = settled.flatMap((s) => s.status === 'fulfilled' ? [s.value] : [])
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed !== undefined) {
    await Promise.all(agents.map((agent) => agent.kill()))
    throw failed.reason
  }
  return agents
}
