// What a backend keeps for groups: which groups exist, who is a member (alive
// within its lease) and with which capabilities, and who leads. Group and
// member names arrive here already prefixed and validated; capabilities as
// JSON text. Each backend has one store (groups-<backend>.ts).

export type JoinResult = 'joined' | 'missing' | 'member'
export type LeaveResult = 'left' | 'missing' | 'not-member'
export type DeleteResult = 'deleted' | 'missing' | 'not-empty'

export interface GroupStore {
  /** false if the group exists already. */
  create (group: string): Promise<boolean>
  delete (group: string): Promise<DeleteResult>
  join (group: string, member: string, capabilities: string): Promise<JoinResult>
  leave (group: string, member: string): Promise<LeaveResult>
  /** Whether `member` of `group` (still) is one, with `capabilities` stored: 'missing' if the group is gone. */
  update (group: string, member: string, capabilities: string): Promise<LeaveResult>
  /** Live members and their capabilities (JSON text), or undefined if the group does not exist. */
  members (group: string): Promise<Map<string, string> | undefined>
  /** Extends this member's memberships; true for each one it still has. */
  renew (member: string, groups: readonly string[]): Promise<boolean[]>
  /**
   * The member now holding `lockName` (the group's leadership lock), or
   * undefined. `group` is the group it leads.
   */
  leader (group: string, lockName: string): Promise<string | undefined>
  /** This member has just taken `lockName`: record it where leader() looks, if the lock itself does not say. */
  elected (group: string, lockName: string, member: string, token: number): Promise<void>
  /** Lets go of what the store holds for this coordinator (file:// kernel locks). */
  close (): Promise<void>
}

/** Owner values are `<member id>/<16-character nonce>:<count>` (Coordinator#newOwner): the member id back. */
export function memberOfOwner (owner: string | undefined): string | undefined {
  if (owner === undefined) return undefined
  const match = /^([\s\S]*)\/[A-Za-z0-9_-]{16}:\d+$/.exec(owner)
  return match?.[1]
}
