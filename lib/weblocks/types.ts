// The Web Locks API's dictionaries, and what a LockManager asks of the place
// its locks live in (a lock directory, a Coordinator's backend).

export type WebLockMode = 'exclusive' | 'shared'

/** The W3C LockOptions dictionary. */
export interface WebLockOptions {
  mode?: WebLockMode
  ifAvailable?: boolean
  steal?: boolean
  signal?: AbortSignal
}

/** The W3C LockInfo dictionary, plus where the request lives (extensions). */
export interface WebLockInfo {
  name: string
  mode: WebLockMode
  /** `node-<pid>-<threadId>`, as Node's own navigator.locks spells it: one per JavaScript thread. */
  clientId: string
  /** Extension: the process of the request. */
  pid?: number
  /** Extension: its thread (0: the main thread). */
  threadId?: number
}

/** The W3C LockManagerSnapshot dictionary. */
export interface WebLockSnapshot {
  held: WebLockInfo[]
  pending: WebLockInfo[]
}

/** One local holder's share of a lock in the realm (the kernel, a server). */
export interface RealmGrant {
  /** Gives the realm's lock back; never throws. */
  release: () => void
  /** Coordinator locks: the fencing token of the holding. */
  readonly fencingToken?: number | undefined
  /** Aborted when the holding is lost rather than released (a lease ran out, the coordinator stopped). */
  readonly lost?: AbortSignal
}

/** A request as the realm sees it, with its place in time (ns of a clock every process shares). */
export interface RealmEntry {
  name: string
  mode: WebLockMode
  clientId: string
  pid: number
  /** undefined for a holder only the kernel knows of. */
  threadId: number | undefined
  /** Request time for pending entries, grant time for held ones. */
  at: number
}

export interface RealmAcquire {
  name: string
  mode: WebLockMode
  steal: boolean
  /** With steal: how long the current holders have to let go (ms). */
  stealTimeout: number
  /** Ends the wait; the realm then holds nothing for it. */
  signal: AbortSignal
}

/**
 * Where the locks of a LockManager live. The manager runs the spec's algorithm
 * for its own requests; the realm excludes everyone else.
 */
export interface Realm {
  /** Whether shared locks are honest here (else NotSupportedError). */
  readonly shared: boolean
  /** Whether tryAcquire() is cheap and synchronous (then every request tries it first; else only ifAvailable ones do). */
  readonly syncTry: boolean
  /** One try without waiting: a grant, or null if someone else holds it. */
  tryAcquire (name: string, mode: WebLockMode): RealmGrant | null | Promise<RealmGrant | null>
  /** Waits for the lock; rejects with the signal's reason when it aborts. */
  acquire (request: RealmAcquire): Promise<RealmGrant>
  /** What other clients hold and wait for; `mine`: this thread's held requests (to tell its own kernel locks apart). */
  others (mine: RealmEntry[]): Promise<{ held: RealmEntry[], pending: RealmEntry[] }>
  /** The manager's requests changed (for realms that publish them). */
  changed (): void
  /** Registers the manager's view of its requests, and what to do when another client steals a name. */
  attach (client: RealmClient): void
}

export interface RealmClient {
  /** This manager's held and pending requests, for publishing. */
  snapshot (): { held: RealmEntry[], pending: RealmEntry[] }
  /** Another client steals `name`: drop this manager's holders of it, as a local steal would. */
  stolen (name: string): void
}
