// The tables of groups on PostgreSQL (groups-postgres.ts), created with the
// locks' own objects by the first member (postgres.ts, ensureSchema).

export const GROUPS = 'locksmith_groups'
export const MEMBERS = 'locksmith_group_members'
export const LEADERS = 'locksmith_group_leaders'

export const GROUP_TABLES = [
  `CREATE TABLE IF NOT EXISTS ${GROUPS} (name text PRIMARY KEY)`,
  `CREATE TABLE IF NOT EXISTS ${MEMBERS} (group_name text NOT NULL REFERENCES ${GROUPS} (name) ON DELETE CASCADE,
    member text NOT NULL, capabilities text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (group_name, member))`,
  `CREATE TABLE IF NOT EXISTS ${LEADERS} (group_name text PRIMARY KEY, member text NOT NULL, pid integer NOT NULL)`
]
