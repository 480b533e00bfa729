// Requests sent to each kind of server by every client in this process:
// Redis commands (ioredis), SQL queries (pg), HTTP requests (etcd's gateway),
// gRPC calls (the etcd3 client, through the interceptor below).
// The client libraries are wrapped once; a benchmark reads the counters
// before and after what it measures.
import http from 'node:http'
import { createRequire } from 'node:module'

export const requestsSent = { redis: 0, postgresql: 0, etcd: 0, grpc: 0 }

let installed = false

/** Wraps the clients' send functions (idempotent). Call before any client connects. */
export function countRequests (): void {
  if (installed) return
  installed = true
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Redis } = require('ioredis') as typeof import('ioredis')
  const sendCommand = Redis.prototype.sendCommand
  Redis.prototype.sendCommand = function (this: InstanceType<typeof Redis>, ...args: Parameters<typeof sendCommand>) {
    requestsSent.redis++
    return sendCommand.apply(this, args)
  } as typeof sendCommand
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require('pg') as typeof import('pg')
  const query = Client.prototype.query
  Client.prototype.query = function (this: InstanceType<typeof Client>, ...args: unknown[]) {
    requestsSent.postgresql++
    return (query as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof query
  const request = http.request
  http.request = function (...args: unknown[]) {
    requestsSent.etcd++
    return (request as (...a: unknown[]) => http.ClientRequest).apply(http, args)
  } as typeof http.request
}

/**
 * Client options for the etcd3 client that count each gRPC call it starts (a
 * stream counts once). @grpc/grpc-js is loaded from where etcd3 finds it, so
 * the interceptor is built with the same copy.
 */
export function countingGrpcOptions (): Record<string, unknown> {
  const grpc = createRequire(require.resolve('etcd3'))('@grpc/grpc-js') as typeof import('@grpc/grpc-js')
  const count: import('@grpc/grpc-js').Interceptor = (options, nextCall) => {
    requestsSent.grpc++
    return new grpc.InterceptingCall(nextCall(options))
  }
  return { interceptors: [count] }
}
