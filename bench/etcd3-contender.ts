// The npm etcd client's lock (etcd3's Lock: a lease plus a create-if-absent
// transaction per try) beside locksmith's etcd:// backend. Its acquire tries
// once and rejects if the key exists, so a waiter retries, every `retryMs`.
import { Etcd3, EtcdLockFailedError, type IOptions, type Lock } from 'etcd3'
import { LEASE, retakingScenario, STARVED, type Contender } from './redlock-contender'
import { countingGrpcOptions, requestsSent } from './request-counter'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Takes the lock, trying every `retryMs` until `deadline` (performance.now()); undefined if it ran out. */
async function acquireRetrying (client: Etcd3, key: string, retryMs: number, deadline = Infinity): Promise<Lock | undefined> {
  for (;;) {
    const lock = client.lock(key).ttl(LEASE / 1000)
    try {
      return await lock.acquire()
    } catch (error) {
      if (!(error instanceof EtcdLockFailedError)) throw error
    }
    if (performance.now() + retryMs > deadline) return undefined
    await sleep(retryMs)
  }
}

export function etcd3Contender (label: string, etcdUrl: string, retryMs: number): Contender {
  const url = new URL(etcdUrl)
  const hosts = `http://${url.hostname}:${url.port}`
  const grpcOptions = countingGrpcOptions() as IOptions['grpcOptions']
  const a = new Etcd3({ hosts, grpcOptions })
  const b = new Etcd3({ hosts, grpcOptions })
  return {
    name: label,
    cycle: async (key) => {
      const lock = await a.lock(key).ttl(LEASE / 1000).acquire()
      await lock.release()
    },
    handoff: async (key) => {
      const held = await a.lock(key).ttl(LEASE / 1000).acquire()
      let got: Lock | undefined
      return {
        wait: async () => { got = await acquireRetrying(b, key, retryMs) },
        releaseA: async () => { await held.release() },
        releaseB: async () => { await got?.release() }
      }
    },
    retaking: async (key) => await retakingScenario(async () => {
      const lock = await acquireRetrying(a, key, retryMs)
      await lock?.release()
    }, async (held) => {
      const lock = await acquireRetrying(b, key, retryMs, performance.now() + STARVED)
      if (lock === undefined) return
      held()
      await lock.release()
    }),
    requests: () => requestsSent.grpc,
    close: async () => { a.close(); b.close() }
  }
}
