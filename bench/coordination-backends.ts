// The Coordinator on every server backend, side by side in one run, plus
// redlock on the same Redis and two etcd lock libraries on the same etcd (the
// npm etcd3 client's Lock, and tooz's etcd3gw driver in Python):
//   acquire+release  uncontended cycles on a free lock
//   hand-off         B waits while A holds; time from A's release() call until B holds
//   re-taking member A takes and gives back the lock in a tight loop; B (another
//                    coordinator in this process) asks once: how long until B gets
//                    it, and how many times A got it meanwhile
//   requests         sent by both members' clients from when B starts waiting until
//                    it holds (Redis commands, SQL queries, HTTP requests)
// Servers: started here on loopback ports (PostgreSQL with fsync and synchronous
// commits on), or given: --redis URL --etcd URL --postgres URL (each optional;
// a backend whose server is neither given nor installed is left out).
//
//   npm run build && node dist/bench/coordination-backends.js [--quick]
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { etcdCheck, EtcdServer, postgresCheck, PostgresServer, redisCheck, RedisServer } from '../test/servers'
import { coordinatorContender, redlockContender, STARVED, type Contender, type RedlockLike, type Retake } from './redlock-contender'
import { etcd3Contender } from './etcd3-contender'
import { countRequests, requestsSent } from './request-counter'
import { toozEtcdContender } from './tooz-etcd-contender'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function redlock (label: string, url: string, wait: Record<string, number>): Promise<Contender> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Redlock = (require('redlock') as { default: new (clients: Redis[]) => RedlockLike }).default
  return await redlockContender(label, (client) => new Redlock([client]), url, wait)
}

function summary (values: number[]): { median: number, p99: number, max: number } {
  const sorted = [...values].sort((x, y) => x - y)
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number
  return { median: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number }
}

function argument (name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at > 0 ? process.argv[at + 1] : undefined
}

async function main (): Promise<void> {
  const quick = process.argv.includes('--quick')
  const rounds = quick ? 4 : 12
  const cyclesPerRound = quick ? 30 : 60
  const handoffsPerRound = quick ? 2 : 3
  const retakeTrials = quick ? 2 : 5
  const stops: Array<() => Promise<void>> = []
  const contenders: Contender[] = []
  let redisUrl = argument('--redis')
  let etcdUrl = argument('--etcd')
  let pgUrl = argument('--postgres')
  try {
    if (redisUrl === undefined && redisCheck().skip === false) {
      const server = await RedisServer.start()
      stops.push(async () => await server.stop())
      redisUrl = server.url
    }
    if (etcdUrl === undefined && etcdCheck().skip === false) {
      const server = await EtcdServer.start()
      stops.push(async () => await server.stop())
      etcdUrl = server.url
    }
    if (pgUrl === undefined && postgresCheck().skip === false) {
      const server = await PostgresServer.start({ durable: true })
      stops.push(async () => await server.stop())
      pgUrl = server.url
    }
    countRequests()
    if (redisUrl !== undefined) contenders.push(await coordinatorContender('locksmith redis://', redisUrl, () => requestsSent.redis))
    if (etcdUrl !== undefined) contenders.push(await coordinatorContender('locksmith etcd://', etcdUrl, () => requestsSent.etcd))
    if (pgUrl !== undefined) contenders.push(await coordinatorContender('locksmith postgresql:// (fsync on)', pgUrl, () => requestsSent.postgresql))
    if (redisUrl !== undefined) {
      contenders.push(await redlock('redlock 5 on the same Redis (retry 10 ms)', redisUrl, { retryCount: -1, retryDelay: 10, retryJitter: 0 }))
    }
    if (etcdUrl !== undefined) {
      contenders.push(etcd3Contender('etcd3 1.1 Lock (npm) on the same etcd (retry 10 ms)', etcdUrl, 10))
      const tooz = await toozEtcdContender('tooz etcd3gw driver (Python) on the same etcd', etcdUrl)
      if (typeof tooz === 'string') console.log(`tooz's etcd3gw driver left out: ${tooz}`)
      else contenders.push(tooz)
    }
    const cycles = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
    const handoffs = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
    const retakes = new Map<string, Retake[]>(contenders.map((c) => [c.name, []]))
    const requests = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
    for (const contender of contenders) for (let i = 0; i < 30; i++) await contender.cycle(`warm-${i % 5}`)
    for (let round = 0; round < rounds; round++) {
      for (const contender of contenders) {
        const samples = cycles.get(contender.name) as number[]
        for (let i = 0; i < cyclesPerRound; i++) {
          const started = performance.now()
          const own = await contender.cycle(`cycle-${contender.name}`)
          samples.push(typeof own === 'number' ? own : (performance.now() - started) * 1000)
        }
        for (let i = 0; i < handoffsPerRound; i++) {
          const key = `handoff-${round}-${i}-${contender.name}`
          if (contender.measuredHandoff !== undefined) {
            const { ms, requests: sent } = await contender.measuredHandoff(key)
            ;(handoffs.get(contender.name) as number[]).push(ms)
            ;(requests.get(contender.name) as number[]).push(sent)
            continue
          }
          const pair = await contender.handoff(key)
          let heldAt = 0
          let sentWhenHeld = 0
          const sentBefore = contender.requests?.() ?? 0
          const waiting = pair.wait().then(() => {
            heldAt = performance.now()
            sentWhenHeld = contender.requests?.() ?? 0
          })
          await sleep(30)
          const releasedAt = performance.now()
          await pair.releaseA()
          await waiting
          ;(handoffs.get(contender.name) as number[]).push(heldAt - releasedAt)
          if (contender.requests !== undefined) (requests.get(contender.name) as number[]).push(sentWhenHeld - sentBefore)
          await pair.releaseB()
        }
      }
    }
    for (let trial = 0; trial < retakeTrials; trial++) {
      for (const contender of contenders) {
        if (contender.retaking !== undefined) (retakes.get(contender.name) as Retake[]).push(await contender.retaking(`retake-${trial}-${contender.name}`))
      }
    }
    console.log(`\nOne run, backends interleaved; ${rounds * cyclesPerRound} cycles, ${rounds * handoffsPerRound} hand-offs, ${retakeTrials} re-taking trials each; Node ${process.version}\n`)
    console.log('| backend | acquire+release median | p99 | hand-off median | hand-off p99 | requests per hand-off (30 ms wait) | wait beside a re-taking member (median / worst) | re-taker\'s grants meanwhile (worst) |')
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
    for (const contender of contenders) {
      const cycle = summary(cycles.get(contender.name) as number[])
      const handoff = summary(handoffs.get(contender.name) as number[])
      const sent = requests.get(contender.name) as number[]
      const retake = retakes.get(contender.name) as Retake[]
      const starved = retake.filter((r) => r.ms >= STARVED).length
      const waits = summary(retake.map((r) => r.ms))
      const retakeText = retake.length === 0
        ? '– | –'
        : `${waits.median.toFixed(1)} / ${waits.max.toFixed(1)} ms${starved > 0 ? ` (no lock within ${STARVED} ms in ${starved} of ${retake.length})` : ''} | ${Math.max(...retake.map((r) => r.grants))}`
      const sentText = sent.length === 0 ? '–' : String(summary(sent).median)
      console.log(`| ${contender.name} | ${cycle.median.toFixed(0)} µs | ${cycle.p99.toFixed(0)} µs | ${handoff.median.toFixed(2)} ms | ${handoff.p99.toFixed(2)} ms | ${sentText} | ${retakeText} |`)
    }
  } finally {
    for (const contender of contenders) await contender.close()
    for (const stop of stops) await stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
