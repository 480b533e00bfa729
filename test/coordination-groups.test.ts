// Group membership and leader election on every backend, against real
// servers started for this file (test/groups-suite.ts has the tests).
import { after, before, describe } from 'node:test'
import { groupSuite } from './groups-suite'
import { tempDir } from './helpers'
import { clusterCheck, etcdCheck, EtcdServer, postgresCheck, PostgresServer, RedisCluster, redisCheck, RedisServer } from './servers'

const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }

describe('file', () => {
  const dir = tempDir()
  groupSuite('file', { url: () => `file://${dir}`, options: lease, leased: false })
})

describe('redis', { skip: redisCheck().skip }, () => {
  let server: RedisServer
  before(async () => { server = await RedisServer.start({ appendonly: true }) })
  after(async () => { await server?.stop() })
  groupSuite('redis', { url: () => server.url, options: { ...lease, prefix: 'app-' }, leased: true, restart: async () => await server.restart() })
})

describe('redis cluster', { skip: clusterCheck().skip }, () => {
  let cluster: RedisCluster
  before(async () => { cluster = await RedisCluster.start() })
  after(async () => { await cluster?.stop() })
  // A group's keys share one hash tag, so each script runs on one shard.
  groupSuite('redis cluster', { url: () => cluster.url, options: lease, leased: true })
})

describe('postgresql', { skip: postgresCheck().skip }, () => {
  let server: PostgresServer
  before(async () => { server = await PostgresServer.start() })
  after(async () => { await server?.stop() })
  groupSuite('postgresql', { url: () => server.url, options: lease, leased: true, restart: async () => await server.restart() })
})

describe('etcd', { skip: etcdCheck().skip }, () => {
  let server: EtcdServer
  before(async () => { server = await EtcdServer.start() })
  after(async () => { await server?.stop() })
  groupSuite('etcd', { url: () => server.url, options: lease, leased: true, restart: async () => await server.restart() })
})
