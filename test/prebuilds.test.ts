// Every committed prebuild, whether or not this machine can load it: built from
// the sources in this tree (its embedded source hash), for the right CPU, and
// needing nothing from the system that the platforms it is for may lack.
// Linux glibc builds: glibc 2.28 or older (Debian 10, RHEL 8, Amazon Linux 2),
// no libstdc++ (no GLIBCXX or CXXABI versions, no libstdc++/libgcc_s), only
// the Node-API entry points exported. musl builds: nothing glibc-only.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../lib/native'
import { compareVersions, EM_AARCH64, EM_X86_64, readElfNeeds, readMachO, readPe } from './binary-formats'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sourceHash } = require(join(packageRoot, 'scripts', 'source-hash.js')) as { sourceHash: (platform: string) => string }

const prebuild = (dir: string, file = 'locksmith.node'): string => join(packageRoot, 'prebuilds', dir, file)
const TARGETS = [
  { name: 'linux-x64', file: prebuild('linux-x64'), platform: 'linux' },
  { name: 'linux-arm64', file: prebuild('linux-arm64'), platform: 'linux' },
  { name: 'linux-x64 musl', file: prebuild('linux-x64', 'locksmith.musl.node'), platform: 'linux' },
  { name: 'linux-arm64 musl', file: prebuild('linux-arm64', 'locksmith.musl.node'), platform: 'linux' },
  { name: 'darwin-x64', file: prebuild('darwin-x64'), platform: 'darwin' },
  { name: 'darwin-arm64', file: prebuild('darwin-arm64'), platform: 'darwin' },
  { name: 'win32-x64', file: prebuild('win32-x64'), platform: 'win32' },
  { name: 'win32-arm64', file: prebuild('win32-arm64'), platform: 'win32' }
] as const

/** The newest glibc a Linux prebuild may need: RHEL 8 and Amazon Linux 2023 have 2.28 (Debian 11: 2.31). */
const MAX_GLIBC = '2.28'
const NODE_API_EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1']
/** Libraries every Linux system has with its C library. */
const GLIBC_LIBRARIES = ['libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2', 'librt.so.1', 'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1']

describe('committed prebuilds', () => {
  for (const target of TARGETS) {
    test(`${target.name}: present and built from these sources (npm run prebuilds)`, () => {
      assert.ok(existsSync(target.file), `missing ${target.file}: run npm run prebuilds`)
      const hash = sourceHash(target.platform)
      assert.ok(readFileSync(target.file).includes(hash, 0, 'latin1'),
        `${target.file} does not embed source hash ${hash}: it is stale, run npm run prebuilds and commit prebuilds/`)
    })
  }

  for (const target of TARGETS.filter((t) => t.platform === 'linux')) {
    const musl = target.file.endsWith('.musl.node')
    test(`${target.name}: ${musl ? 'nothing glibc-only' : `glibc <= ${MAX_GLIBC}, no libstdc++`}, only Node-API exported`, () => {
      const elf = readElfNeeds(readFileSync(target.file))
      assert.equal(elf.machine, target.name.includes('arm64') ? EM_AARCH64 : EM_X86_64, 'CPU')
      assert.deepEqual(elf.exported.sort(), NODE_API_EXPORTS, 'exports only the Node-API entry points (a linker version script)')
      for (const library of elf.needed) {
        assert.doesNotMatch(library, /libstdc\+\+|libc\+\+|libgcc_s/, `needs ${library}: the C++ runtime must be linked in`)
      }
      if (musl) {
        assert.deepEqual(elf.needed, ['libc.so'], 'a musl build needs musl\'s libc.so only')
        assert.equal(elf.versions.size, 0, `musl has no symbol versions; needs ${JSON.stringify([...elf.versions])}`)
        return
      }
      for (const library of elf.needed) assert.ok(GLIBC_LIBRARIES.includes(library), `needs ${library}`)
      for (const [library, names] of elf.versions) {
        for (const name of names) {
          assert.doesNotMatch(name, /^(GLIBCXX|CXXABI|GCC)_/, `needs ${name} from ${library}`)
          const glibc = /^GLIBC_([\d.]+)$/.exec(name)
          assert.ok(glibc !== null, `needs ${name} from ${library}`)
          assert.ok(compareVersions(glibc[1] as string, MAX_GLIBC) <= 0, `needs ${name} from ${library}, newer than glibc ${MAX_GLIBC}`)
        }
      }
    })
  }

  for (const [name, cpu, minimum] of [['darwin-x64', 'x86_64', '10.15'], ['darwin-arm64', 'arm64', '11.0']] as const) {
    test(`${name}: ${cpu}, macOS ${minimum}+, only system libraries${cpu === 'arm64' ? ', signed' : ''}`, () => {
      const info = readMachO(readFileSync(prebuild(name)))
      assert.equal(info.cpu, cpu)
      assert.ok(info.minimumOs !== undefined && compareVersions(info.minimumOs, minimum) <= 0, `minimum macOS ${info.minimumOs}`)
      for (const library of info.libraries) assert.match(library, /^\/usr\/lib\/|^\/System\//, `needs ${library}`)
      // arm64 macOS refuses to load unsigned code: the linker signs it ad hoc.
      if (cpu === 'arm64') assert.ok(info.signed, 'ad-hoc signature (do not strip with a non-Apple strip)')
    })
  }

  for (const [name, machine] of [['win32-x64', 'x64'], ['win32-arm64', 'arm64']] as const) {
    test(`${name}: ${machine}, needs node.exe and system DLLs only`, () => {
      const info = readPe(readFileSync(prebuild(name)))
      assert.equal(info.machine, machine)
      for (const dll of info.imports) {
        assert.match(dll.toLowerCase(), /^(node\.exe|kernel32\.dll|ntdll\.dll|advapi32\.dll|msvcrt\.dll|ucrtbase\.dll|api-ms-win-[\w-]+\.dll|ws2_32\.dll|user32\.dll|bcrypt\.dll)$/,
          `needs ${dll}: the C++ runtime must be linked in`)
      }
    })
  }
})
