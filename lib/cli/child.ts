// Runs the command as a child: hands it the descriptors it should inherit,
// forwards signals, and turns its end into an exit code the way shells do.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { constants } from 'node:os'
import { readFileSync } from 'node:fs'
import { forwardWhile } from './signals'

/** Signals passed on to the command while it runs. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']

/** Signals a terminal sends to its whole foreground process group (the command included). */
const KEYBOARD_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT'])

export interface ChildOptions {
  command: readonly string[]
  /** Windows: run this string through the default shell. */
  shellCommand?: string | undefined
  env?: NodeJS.ProcessEnv
  /** Descriptors the child gets at the same numbers (the lock, inherited ones). */
  passDescriptors?: readonly number[]
}

export type ChildEnd =
  | { kind: 'exited', code: number }
  | { kind: 'signaled', signal: NodeJS.Signals, code: number }
  | { kind: 'failed', error: NodeJS.ErrnoException }

function stdioFor (descriptors: readonly number[]): StdioOptions {
  const stdio: Array<'inherit' | 'ignore' | number> = ['inherit', 'inherit', 'inherit']
  const highest = Math.max(2, ...descriptors)
  for (let fd = 3; fd <= highest; fd++) stdio.push(descriptors.includes(fd) ? fd : 'ignore')
  return stdio
}

/**
 * Whether a SIGINT/SIGQUIT we got was most likely typed at our terminal, in
 * which case the kernel sent it to the command too and forwarding it again
 * would deliver it twice. True when we are in the terminal's foreground group.
 */
function fromForegroundTerminal (): boolean {
  if (process.platform !== 'linux') return false
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // state ppid pgrp session tty_nr tpgid
    const pgrp = Number(fields[2])
    const ttyNr = Number(fields[4])
    const tpgid = Number(fields[5])
    return ttyNr !== 0 && tpgid === pgrp
  } catch {
    return false
  }
}

export function exitCodeForSignal (signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0)
}

/** Spawns the command and resolves once it has ended (or could not start). */
export function runChild (options: ChildOptions, onSpawn?: (child: ChildProcess) => void): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const windowsShell = process.platform === 'win32' && options.shellCommand !== undefined
    const [file, ...args] = options.command
    let child: ChildProcess
    const forward = (signal: NodeJS.Signals): void => {
      if (KEYBOARD_SIGNALS.has(signal) && fromForegroundTerminal()) return
      if (child.exitCode === null && child.signalCode === null) {
        try { child.kill(signal) } catch { /* it just ended */ }
      }
    }
    const stopForwarding = forwardWhile(FORWARDED_SIGNALS)
    const listeners = FORWARDED_SIGNALS.map((signal) => {
      const listener = (): void => forward(signal)
      process.on(signal, listener)
      return [signal, listener] as const
    })
    let ended = false
    const finish = (end: ChildEnd): void => {
      if (ended) return
      ended = true
      for (const [signal, listener] of listeners) process.removeListener(signal, listener)
      stopForwarding()
      resolve(end)
    }
    try {
      child = windowsShell
        ? spawn(options.shellCommand as string, { stdio: 'inherit', env: options.env, shell: true })
        : spawn(file as string, args, { stdio: stdioFor(options.passDescriptors ?? []), env: options.env })
    } catch (error) {
      finish({ kind: 'failed', error: error as NodeJS.ErrnoException })
      return
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) finish({ kind: 'failed', error })
    })
    child.once('exit', (code, signal) => {
      if (signal !== null) finish({ kind: 'signaled', signal, code: exitCodeForSignal(signal) })
      else finish({ kind: 'exited', code: code ?? 0 })
    })
    onSpawn?.(child)
  })
}
