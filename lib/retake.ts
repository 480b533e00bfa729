// Fair hand-off between processes. flock and fcntl wake the waiters of a lock
// in no order and let them race for it: a process that releases and asks again
// at once, trying on the spot, wins that race before the waiters it woke in
// other processes have even run, and can keep the lock from them for as long as
// it loops. So a blocking acquire that re-takes a lock this process released
// moments ago waits in the kernel on its waiter thread instead, where a woken
// waiter elsewhere gets there first (as the waiters of the libuv-pool
// libraries do), except for an allowance of re-takes on the spot:
// - after a wait that had to block (the lock is contended): AFTER_WAIT, so a
//   process keeps the lock for at most four turns in a row while others wait
//   (each such turn saves a hand-off: measured, 10-20 % more throughput among
//   four processes than with one, every process still getting its share);
// - after a re-take through the thread that found nobody in the way (the lock
//   looks uncontended): twice as many as the time before, up to MAX_ON_SPOT,
//   so an uncontended loop pays a trip through the thread once in a while,
//   not on every acquire.

/** Within this long of this process's release, an acquire is a re-take (woken waiters may not have run yet). */
const RETAKE_MS = 2
const AFTER_WAIT = 3
const MAX_ON_SPOT = 128
/** Keys remembered at most (the oldest go first). */
const MAX_KEYS = 1024

interface Turns {
  releasedAt: number
  /** Whether a re-take after that release may try on the spot. */
  onSpot: boolean
  /** Re-takes on the spot left after this one. */
  allowance: number
  /** The allowance the next uncontended trip through the thread gives. */
  nextAllowance: number
  /** Whether the last wait in the kernel found another holder in the way. */
  blocked: boolean
}

const turns = new Map<string, Turns>()

function entry (key: string): Turns {
  let turn = turns.get(key)
  if (turn === undefined) {
    if (turns.size >= MAX_KEYS) turns.delete(turns.keys().next().value as string)
    turn = { releasedAt: -Infinity, onSpot: false, allowance: 0, nextAllowance: 1, blocked: false }
    turns.set(key, turn)
  }
  return turn
}

/** Whether a blocking acquire of `key` now must wait in the kernel rather than try on the spot. */
export function mustQueue (key: string): boolean {
  const turn = turns.get(key)
  return turn !== undefined && !turn.onSpot && performance.now() - turn.releasedAt < RETAKE_MS
}

/** This process released the kernel lock of `key`: the next re-take spends the allowance, or waits its turn. */
export function released (key: string): void {
  const turn = entry(key)
  turn.releasedAt = performance.now()
  turn.onSpot = turn.allowance > 0
  if (turn.onSpot) turn.allowance--
}

/** A wait in the kernel on `key` was granted; `waited`: another holder was in the way when it began. */
export function grantedAfterWait (key: string, waited: boolean): void {
  const turn = entry(key)
  turn.blocked = waited
  if (waited) {
    turn.allowance = AFTER_WAIT
    turn.nextAllowance = 1
  } else {
    turn.allowance = turn.nextAllowance
    turn.nextAllowance = Math.min(turn.nextAllowance * 2, MAX_ON_SPOT)
  }
}

/**
 * Whether the last wait for `key` had to block behind another holder: others
 * may be waiting now, so a release unlocks before it closes (the waiter woken
 * by the unlock got in about 10 % sooner than one woken by the close, in the
 * hand-off benchmark); otherwise the close alone gives the lock back.
 */
export function lastWaitBlocked (key: string): boolean {
  return turns.get(key)?.blocked === true
}
