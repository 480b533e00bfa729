// A benchmark process driven over IPC (bench/agents.ts). It takes locks with one
// contender and reports stamps from the shared monotonic clock.
//   { cmd: 'init', contender, path }        -> { event: 'ready' }
//   { cmd: 'hold' }                         -> { event: 'held' }        (waits if need be)
//   { cmd: 'wait' }                         -> { event: 'waiting' }, later { event: 'acquired', t1 }
//   { cmd: 'release', holdMs }              -> nothing (replyNow: true -> { event: 'released', t0 })
//   { cmd: 'stamp' }                        -> { event: 'released', t0 } (t0: just before the last release call)
//   { cmd: 'counter', counter, start, end } -> { event: 'counted', ops, maxWait, stillWaiting }
//   { cmd: 'waiters', ... }                 -> see bench/waiters.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { contender, type Contender, type Handle } from './adapters'
import { nowNs, sleep } from './clock'
import { runWaiters, type WaitersRequest } from './waiters'

let chosen: Contender | undefined
let path = ''
let handle: Handle | undefined
let lastRelease: number | undefined

function reply (message: Record<string, unknown>): void {
  process.send?.(message)
}

function current (): Handle {
  if (handle === undefined) {
    if (chosen === undefined) throw new Error('agent not initialised')
    handle = chosen.create(path)
  }
  return handle
}

async function counter (counterPath: string, start: number, end: number): Promise<void> {
  const lock = current()
  let ops = 0
  let maxWait = 0
  let waitingSince: number | undefined
  let stopped = false
  const report = (): void => {
    if (stopped) return
    stopped = true
    const inProgress = waitingSince === undefined ? 0 : nowNs() - waitingSince
    reply({ event: 'counted', ops, maxWait: Math.max(maxWait, inProgress), stillWaiting: waitingSince !== undefined })
  }
  // A poller may sit in a long back-off when time is up: report then, and leave
  // the counter alone if the lock still comes later.
  const stopAt = setTimeout(report, Math.max(0, (end - nowNs()) / 1e6) + 5)
  await sleep(Math.max(0, (start - nowNs()) / 1e6))
  while (!stopped && nowNs() < end) {
    waitingSince = nowNs()
    await lock.acquire()
    const waited = nowNs() - waitingSince
    waitingSince = undefined
    if (stopped) {
      await lock.release()
      break
    }
    if (waited > maxWait) maxWait = waited
    const value = Number.parseInt(readFileSync(counterPath, 'utf8'), 10) + 1
    writeFileSync(counterPath, String(value))
    ops++
    await lock.release()
  }
  clearTimeout(stopAt)
  report()
}

async function handle_ (message: Record<string, any>): Promise<void> {
  switch (message.cmd) {
    case 'init':
      chosen = contender(message.contender as string)
      path = message.path as string
      reply({ event: 'ready' })
      break
    case 'hold':
      await current().acquire()
      reply({ event: 'held' })
      break
    case 'wait': {
      const acquired = current().acquire()
      reply({ event: 'waiting' })
      await acquired
      const t1 = nowNs()
      reply({ event: 'acquired', t1 })
      break
    }
    case 'release': {
      const lock = current()
      if (message.holdMs > 0) await sleep(message.holdMs as number)
      const t0 = nowNs()
      await lock.release()
      // Replying now would put IPC work (this process and the parent's) into
      // the hand-off being measured, competing for the CPUs with the waiter;
      // the stamp is collected afterwards (`stamp`), as the C baseline does.
      lastRelease = t0
      if (message.replyNow === true) reply({ event: 'released', t0 })
      break
    }
    case 'stamp':
      reply({ event: 'released', t0: lastRelease })
      break
    case 'counter':
      await counter(message.counter as string, message.start as number, message.end as number)
      break
    case 'waiters':
      reply({ event: 'waiters', ...await runWaiters(chosen as Contender, path, message as WaitersRequest, reply) })
      break
    case 'exit':
      process.exit(0)
  }
}

// If the benchmark goes away (killed, crashed), go too: never outlive it holding a
// lock. SIGKILL, because an agent stuck on a full libuv pool cannot exit normally.
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'))
process.on('message', (message: Record<string, any>) => {
  handle_(message).catch((error: Error) => reply({ event: 'error', message: error.message, stack: error.stack }))
})
reply({ event: 'started' })
