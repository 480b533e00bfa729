// The performance locksmith must show, checked against one run's medians.
import { duration, ms, ratio } from './format'
import { rowOf, type Results, type ScenarioResult, type Target } from './results'

const MAX_EXTRA_THREADS = 4

function scenario (results: Pick<Results, 'scenarios'>, id: string): ScenarioResult | undefined {
  return results.scenarios.find((s) => s.id === id)
}

function missing (scenarioId: string, text: string, what: string): Target {
  return { scenario: scenarioId, text, met: null, detail: `not measured: ${what}` }
}

export function checkTargets (results: Pick<Results, 'scenarios'>): Target[] {
  const targets: Target[] = []
  const s1 = scenario(results, 's1')
  if (s1 !== undefined) {
    const me = rowOf(s1, 'locksmith')
    const c = rowOf(s1, 'c-flock')
    let text = 'within 1.5× of the C baseline'
    if (me?.median === undefined || c?.median === undefined) targets.push(missing('s1', text, 'locksmith or C row'))
    else {
      const r = me.median / c.median
      targets.push({ scenario: 's1', text, met: r <= 1.5, detail: `locksmith ${duration(me.median)} vs C flock ${duration(c.median)}: ${ratio(r)}` })
    }
    text = 'no slower than the fastest native peer'
    const peers = ['fs-native-extensions', 'fs-ext'].map((id) => rowOf(s1, id)).filter((r) => r?.median !== undefined)
    const fastest = peers.sort((a, b) => (a?.median as number) - (b?.median as number))[0]
    if (me?.median === undefined || fastest?.median === undefined) targets.push(missing('s1', text, 'no native peer loaded'))
    else {
      const r = me.median / fastest.median
      targets.push({ scenario: 's1', text, met: r <= 1, detail: `locksmith ${duration(me.median)} vs ${fastest.label} ${duration(fastest.median)}: ${ratio(r)} its time` })
    }
  }
  const s2 = scenario(results, 's2')
  if (s2 !== undefined) {
    const me = rowOf(s2, 'locksmith-new')
    {
      const text = 'new Lock() + tryAcquire() + release() no slower than fs-native-extensions open + tryLock + unlock + close'
      const peer = rowOf(s2, 'fs-native-extensions')
      const floor = rowOf(s2, 'c-flock-checked')
      if (me?.median === undefined || peer?.median === undefined) targets.push(missing('s2', text, 'locksmith-new or fs-native-extensions row'))
      else {
        const r = me.median / peer.median
        const checked = floor?.median === undefined ? '' : `; the same system calls from C (with the file check) ${duration(floor.median)}: ${ratio(me.median / floor.median)}`
        targets.push({ scenario: 's2', text, met: r <= 1, detail: `locksmith ${duration(me.median)} vs ${duration(peer.median)}: ${ratio(r)} its time${checked}` })
      }
    }
    const text = 'at least 25× faster than proper-lockfile lockSync() + release()'
    const peer = rowOf(s2, 'proper-lockfile-sync')
    if (me?.median === undefined || peer?.median === undefined) targets.push(missing('s2', text, 'locksmith-new or proper-lockfile-sync row'))
    else {
      const r = peer.median / me.median
      targets.push({ scenario: 's2', text, met: r >= 25, detail: `${peer.label} ${duration(peer.median)} vs locksmith new Lock() ${duration(me.median)}: ${ratio(r)} faster` })
    }
  }
  const s3 = scenario(results, 's3')
  if (s3 !== undefined) {
    const text = 'at least 3× faster than fs-native-extensions waitForLock'
    const me = rowOf(s3, 'locksmith')
    const peer = rowOf(s3, 'fs-native-extensions')
    if (me?.median === undefined || peer?.median === undefined) targets.push(missing('s3', text, 'locksmith or fs-native-extensions row'))
    else {
      const r = peer.median / me.median
      targets.push({ scenario: 's3', text, met: r >= 3, detail: `waitForLock ${duration(peer.median)} vs locksmith ${duration(me.median)}: ${ratio(r)} faster` })
    }
  }
  const s4 = scenario(results, 's4')
  if (s4 !== undefined) {
    const me = rowOf(s4, 'locksmith')
    let text = 'p50 no slower than the fastest peer (fs-ext, which waits on the libuv pool)'
    const fsExt = rowOf(s4, 'fs-ext')
    if (me?.median === undefined || fsExt?.median === undefined) targets.push(missing('s4', text, 'locksmith or fs-ext row'))
    else targets.push({ scenario: 's4', text, met: me.median <= fsExt.median, detail: `locksmith p50 ${duration(me.median)} vs fs-ext ${duration(fsExt.median)}: ${ratio(me.median / fsExt.median)} its time` })
    text = 'p50 within 1.5× of the C model of a Node wait (a thread blocked in flock wakes an epoll loop)'
    const model = rowOf(s4, 'c-flock-loop')
    if (me?.median === undefined || model?.median === undefined) targets.push(missing('s4', text, 'locksmith or C model row'))
    else {
      const r = me.median / model.median
      const c = rowOf(s4, 'c-flock')
      const also = c?.median === undefined ? '' : `; two plain C processes ${duration(c.median)}`
      targets.push({ scenario: 's4', text, met: r <= 1.5, detail: `locksmith p50 ${duration(me.median)} vs model ${duration(model.median)}: ${ratio(r)}${also}` })
    }
    text = 'at least 100× better than proper-lockfile'
    const peer = rowOf(s4, 'proper-lockfile')
    if (me?.median === undefined || peer?.median === undefined) targets.push(missing('s4', text, 'locksmith or proper-lockfile row'))
    else {
      const r = peer.median / me.median
      const fast = rowOf(s4, 'proper-lockfile-10ms')
      const also = fast?.median === undefined ? '' : `; with 10 ms retries ${duration(fast.median)}: ${ratio(fast.median / me.median)}`
      targets.push({ scenario: 's4', text, met: r >= 100, detail: `proper-lockfile p50 ${duration(peer.median)} vs locksmith ${duration(me.median)}: ${ratio(r)}${also}` })
    }
  }
  const s5 = scenario(results, 's5')
  if (s5 !== undefined) {
    const me = rowOf(s5, 'locksmith')
    let text = 'throughput at or above the best native peer'
    const peers = ['fs-native-extensions', 'os-lock', 'fs-ext'].map((id) => rowOf(s5, id)).filter((r) => r?.median !== undefined)
    const best = peers.sort((a, b) => (b?.median as number) - (a?.median as number))[0]
    if (me?.median === undefined || best?.median === undefined) targets.push(missing('s5', text, 'locksmith or native peer row'))
    else targets.push({ scenario: 's5', text, met: me.median >= best.median, detail: `locksmith ${Math.round(me.median).toLocaleString('en-US')} ops/s vs ${best.label} ${Math.round(best.median).toLocaleString('en-US')}: ${ratio(me.median / best.median)}` })
    text = 'fair (Jain index at least 0.99) and the counter exact'
    const jain = me?.metrics?.fairness
    if (typeof jain !== 'number') targets.push(missing('s5', text, 'locksmith row'))
    else targets.push({ scenario: 's5', text, met: jain >= 0.99 && me?.metrics?.counterOk === true, detail: `Jain ${jain.toFixed(3)}, counter ${me?.metrics?.counterOk === true ? 'exact' : 'WRONG'}` })
  }
  const s6 = scenario(results, 's6')
  if (s6 !== undefined) {
    const me = s6.rows.find((row) => row.id === 'locksmith' && row.metrics !== undefined)
    let text = `native threads bounded by a small constant (at most ${MAX_EXTRA_THREADS} more than idle)`
    const extra = me?.metrics?.extraThreads
    if (typeof extra !== 'number') targets.push(missing('s6', text, 'locksmith row'))
    else targets.push({ scenario: 's6', text, met: extra <= MAX_EXTRA_THREADS, detail: `${extra} more threads with 1,000 pending acquires` })
    text = 'event-loop delay p99 with 1,000 waiters within 2× of the idle process'
    const idle = me?.metrics?.idleEventLoopDelayP99Ms
    const busy = me?.metrics?.waitingEventLoopDelayP99Ms
    if (typeof idle !== 'number' || typeof busy !== 'number') targets.push(missing('s6', text, 'locksmith row'))
    else targets.push({ scenario: 's6', text, met: busy <= 2 * idle, detail: `${ms(busy)} waiting vs ${ms(idle)} idle: ${ratio(busy / idle)}` })
  }
  const s7 = scenario(results, 's7')
  if (s7 !== undefined) {
    const text = 'cancellation p50 under 0.5 ms'
    const me = rowOf(s7, 'locksmith')
    if (me?.median === undefined) targets.push(missing('s7', text, 'locksmith row'))
    else targets.push({ scenario: 's7', text, met: me.median < 0.5e6, detail: `locksmith p50 ${duration(me.median)}` })
  }
  return targets
}
