// Distributed locks on one Redis: locksmith's Coordinator against redlock and
// @sesamecare-oss/redlock, same server, same run, interleaved rounds.
//   uncontended: acquire + release on a free lock, one after another
//   hand-off:    B waits while A holds; time from A's release call to B holding
// Also counts the Redis commands each hand-off cost (INFO total_commands_processed),
// since a polling waiter buys latency with server load.
//
//   npm run bench:redis [-- --quick] [-- --url redis://host:port/db]
// Without --url it starts its own redis-server on a loopback port.
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { RedisServer, redisCheck } from '../test/servers'
import { coordinatorContender, redlockContender, type Contender, type RedlockLike } from './redlock-contender'


function summary (values: number[]): { median: number, p99: number } {
  const sorted = [...values].sort((x, y) => x - y)
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number
  return { median: at(0.5), p99: at(0.99) }
}

async function commandsProcessed (probe: Redis): Promise<number> {
  const info = await probe.info('stats')
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1])
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function main (): Promise<void> {
  const quick = process.argv.includes('--quick')
  const urlAt = process.argv.indexOf('--url')
  const given = urlAt > 0 ? process.argv[urlAt + 1] : undefined
  const { skip } = redisCheck()
  if (skip !== false && given === undefined) {
    console.log(`coordination-redis benchmark skipped: ${skip}`)
    return
  }
  // Many short rounds, contenders interleaved, so that noise from other work on
  // the machine falls on all of them alike.
  const rounds = quick ? 6 : 24
  const cyclesPerRound = quick ? 40 : 80
  const handoffsPerRound = quick ? 2 : 3
  const server = given === undefined ? await RedisServer.start() : undefined
  const url = given ?? (server as RedisServer).url
  const target = new URL(url)
  const port = Number(target.port === '' ? 6379 : target.port)
  const host = target.hostname
  const probe = new Redis(url)
  const contenders: Contender[] = [await coordinatorContender('locksmith Coordinator', url)]
  // redlock 5's package exports hide its types from this project's module resolution.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Redlock = (require('redlock') as { default: new (clients: Redis[]) => RedlockLike }).default
  const forever = { retryCount: -1 }
  contenders.push(await redlockContender('redlock 5 (default retry 200 ms ± 200)', (c) => new Redlock([c]) as unknown as RedlockLike, url, forever))
  contenders.push(await redlockContender('redlock 5 (retry 10 ms, no jitter)', (c) => new Redlock([c]) as unknown as RedlockLike, url, { retryCount: -1, retryDelay: 10, retryJitter: 0 }))
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Redlock: Sesame } = require('@sesamecare-oss/redlock') as typeof import('@sesamecare-oss/redlock')
    contenders.push(await redlockContender('@sesamecare-oss/redlock (default retry)', (c) => new Sesame([c]) as unknown as RedlockLike, url, forever))
  } catch (error) {
    console.log(`@sesamecare-oss/redlock not available: ${(error as Error).message}`)
  }
  const cycles = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  const handoffs = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  const commands = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  try {
    for (const contender of contenders) for (let i = 0; i < 50; i++) await contender.cycle(`warm-${i % 5}`)
    for (let round = 0; round < rounds; round++) {
      for (const contender of contenders) {
        const samples = cycles.get(contender.name) as number[]
        for (let i = 0; i < cyclesPerRound; i++) {
          const started = performance.now()
          await contender.cycle(`cycle-${contender.name}`)
          samples.push((performance.now() - started) * 1000)
        }
        for (let i = 0; i < handoffsPerRound; i++) {
          const key = `handoff-${round}-${i}-${contender.name}`
          const pair = await contender.handoff(key)
          let heldAt = 0
          const before = await commandsProcessed(probe)
          const waiting = pair.wait().then(() => { heldAt = performance.now() })
          await sleep(30) // B is now waiting (subscribed, or between polls)
          const releasedAt = performance.now()
          await pair.releaseA()
          await waiting
          const after = await commandsProcessed(probe)
          ;(handoffs.get(contender.name) as number[]).push(heldAt - releasedAt)
          ;(commands.get(contender.name) as number[]).push(after - before - 1) // minus the INFO itself
          await pair.releaseB()
        }
      }
    }
  } finally {
    for (const contender of contenders) await contender.close()
    probe.disconnect()
    await server?.stop()
  }
  const locksmithMedian = summary(cycles.get(contenders[0]?.name as string) as number[]).median
  console.log(`\n${given === undefined ? 'redis-server on loopback' : `${host}:${port}`}; ${rounds} interleaved rounds, ${rounds * cyclesPerRound} cycles and ${rounds * handoffsPerRound} hand-offs each; Node ${process.version}\n`)
  console.log('| implementation | acquire+release median | p99 | vs locksmith | hand-off median | hand-off p99 | Redis commands per hand-off (30 ms wait) |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const contender of contenders) {
    const cycle = summary(cycles.get(contender.name) as number[])
    const handoff = summary(handoffs.get(contender.name) as number[])
    const cost = summary(commands.get(contender.name) as number[])
    console.log(`| ${contender.name} | ${cycle.median.toFixed(0)} µs | ${cycle.p99.toFixed(0)} µs | ${(cycle.median / locksmithMedian).toFixed(2)}x | ${handoff.median.toFixed(2)} ms | ${handoff.p99.toFixed(2)} ms | ${cost.median} |`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
