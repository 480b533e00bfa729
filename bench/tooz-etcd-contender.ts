// tooz's etcd3gw driver, in a Python process (bench/tooz-etcd-peer.py), as the
// etcd lock library beside locksmith's etcd:// backend. Its figures are taken
// in Python: the pipe between the processes is not part of them.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pythonWith } from '../test/interop-peer'
import { STARVED, type Contender } from './redlock-contender'

/** The peer script, read from the source tree (the benchmark runs from dist/bench). */
const PEER = join(__dirname, '..', '..', 'bench', 'tooz-etcd-peer.py')

/** The contender, or why it cannot run here. */
export async function toozEtcdContender (label: string, etcdUrl: string): Promise<Contender | string> {
  const found = pythonWith(['tooz', 'etcd3gw'])
  if ('missing' in found) return found.missing
  const child = spawn(found.python, [PEER], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const call = async (message: Record<string, unknown>): Promise<Record<string, any>> => {
    child.stdin.write(JSON.stringify(message) + '\n')
    const line = await lines.next()
    if (line.done === true) throw new Error('the tooz peer exited')
    const reply = JSON.parse(line.value) as Record<string, any>
    if (reply.ok !== true) throw new Error(`tooz peer: ${String(reply.error)}`)
    return reply
  }
  const url = new URL(etcdUrl)
  try {
    await call({ cmd: 'start', url: `etcd3+http://${url.hostname}:${url.port}` })
  } catch (error) {
    child.kill()
    throw error
  }
  return {
    name: label,
    cycle: async (key) => (await call({ cmd: 'cycle', key })).us as number,
    handoff: async () => { throw new Error('measured in the peer: use measuredHandoff') },
    measuredHandoff: async (key) => {
      const reply = await call({ cmd: 'handoff', key })
      return { ms: reply.ms as number, requests: reply.requests as number }
    },
    retaking: async (key) => {
      const reply = await call({ cmd: 'retake', key, starved: STARVED / 1000 })
      return { ms: reply.ms as number, grants: reply.grants as number }
    },
    close: async () => {
      await call({ cmd: 'stop' }).catch(() => {})
      child.kill()
    }
  }
}
