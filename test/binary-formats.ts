// Small readers for what a prebuild needs from the system it loads on, for the
// prebuild tests. ELF: its NEEDED libraries, the symbol versions it requires
// (GLIBC_2.17, GLIBCXX_3.4.30, ...) and the symbols it exports (64-bit
// little-endian: x86-64, aarch64). Mach-O: CPU, minimum macOS, libraries,
// signature. PE: machine and imported DLLs.

export interface ElfNeeds {
  machine: number
  /** DT_NEEDED entries: the shared libraries the loader must find. */
  needed: string[]
  /** Per library, the symbol versions required from it (.gnu.version_r). */
  versions: Map<string, string[]>
  /** Defined global or weak symbols of the dynamic symbol table. */
  exported: string[]
}

export const EM_X86_64 = 62
export const EM_AARCH64 = 183

const SHT_DYNAMIC = 6
const SHT_DYNSYM = 11
const SHT_GNU_VERNEED = 0x6ffffffe
const DT_NEEDED = 1

export function readElfNeeds (file: Buffer): ElfNeeds {
  if (file.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file')
  if (file[4] !== 2 || file[5] !== 1) throw new Error('not a 64-bit little-endian ELF file')
  const machine = file.readUInt16LE(0x12)
  const shoff = Number(file.readBigUInt64LE(0x28))
  const shentsize = file.readUInt16LE(0x3a)
  const shnum = file.readUInt16LE(0x3c)
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize
    return {
      type: file.readUInt32LE(at + 4),
      offset: Number(file.readBigUInt64LE(at + 0x18)),
      size: Number(file.readBigUInt64LE(at + 0x20)),
      link: file.readUInt32LE(at + 0x28),
      info: file.readUInt32LE(at + 0x2c)
    }
  })
  const stringAt = (table: number, offset: number): string => {
    const section = sections[table]
    if (section === undefined) throw new Error('bad string table')
    const start = section.offset + offset
    return file.toString('latin1', start, file.indexOf(0, start))
  }

  const needed: string[] = []
  const versions = new Map<string, string[]>()
  const exported: string[] = []
  for (const section of sections) {
    if (section.type === SHT_DYNAMIC) {
      for (let at = section.offset; at < section.offset + section.size; at += 16) {
        const tag = file.readBigInt64LE(at)
        if (tag === 0n) break
        if (tag === BigInt(DT_NEEDED)) needed.push(stringAt(section.link, Number(file.readBigUInt64LE(at + 8))))
      }
    } else if (section.type === SHT_GNU_VERNEED) {
      let at = section.offset
      for (let i = 0; i < section.info; i++) {
        const count = file.readUInt16LE(at + 2)
        const library = stringAt(section.link, file.readUInt32LE(at + 4))
        const names: string[] = []
        let aux = at + file.readUInt32LE(at + 8)
        for (let j = 0; j < count; j++) {
          names.push(stringAt(section.link, file.readUInt32LE(aux + 8)))
          aux += file.readUInt32LE(aux + 12)
        }
        versions.set(library, names)
        at += file.readUInt32LE(at + 12)
      }
    } else if (section.type === SHT_DYNSYM) {
      for (let at = section.offset + 24; at < section.offset + section.size; at += 24) {
        const binding = (file[at + 4] ?? 0) >> 4
        const sectionIndex = file.readUInt16LE(at + 6)
        if (sectionIndex !== 0 && (binding === 1 || binding === 2)) exported.push(stringAt(section.link, file.readUInt32LE(at)))
      }
    }
  }
  return { machine, needed, versions, exported }
}

/** Compares dotted versions numerically: -1, 0 or 1. */
export function compareVersions (a: string, b: string): number {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

export interface MachOInfo {
  cpu: 'x86_64' | 'arm64' | 'other'
  /** Minimum macOS version (LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX), e.g. '10.15'. */
  minimumOs: string | undefined
  libraries: string[]
  signed: boolean
}

export function readMachO (file: Buffer): MachOInfo {
  if (file.readUInt32LE(0) !== 0xfeedfacf) throw new Error('not a 64-bit Mach-O file')
  const cputype = file.readUInt32LE(4)
  const cpu = cputype === 0x01000007 ? 'x86_64' : cputype === 0x0100000c ? 'arm64' : 'other'
  const ncmds = file.readUInt32LE(16)
  const version = (v: number): string => `${v >>> 16}.${(v >> 8) & 0xff}${(v & 0xff) !== 0 ? `.${v & 0xff}` : ''}`
  let minimumOs: string | undefined
  const libraries: string[] = []
  let signed = false
  let at = 32
  for (let i = 0; i < ncmds; i++) {
    const cmd = file.readUInt32LE(at)
    const size = file.readUInt32LE(at + 4)
    if (cmd === 0x32) minimumOs = version(file.readUInt32LE(at + 12)) // LC_BUILD_VERSION
    else if (cmd === 0x24) minimumOs = version(file.readUInt32LE(at + 8)) // LC_VERSION_MIN_MACOSX
    else if (cmd === 0x0c) { // LC_LOAD_DYLIB
      const start = at + file.readUInt32LE(at + 8)
      libraries.push(file.toString('latin1', start, file.indexOf(0, start)))
    } else if (cmd === 0x1d) signed = true // LC_CODE_SIGNATURE
    at += size
  }
  return { cpu, minimumOs, libraries, signed }
}

export interface PeInfo {
  machine: 'x64' | 'arm64' | 'other'
  timestamp: number
  imports: string[]
}

export function readPe (file: Buffer): PeInfo {
  if (file.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file')
  const pe = file.readUInt32LE(0x3c)
  if (file.readUInt32LE(pe) !== 0x4550) throw new Error('no PE header')
  const machineId = file.readUInt16LE(pe + 4)
  const machine = machineId === 0x8664 ? 'x64' : machineId === 0xaa64 ? 'arm64' : 'other'
  const sectionCount = file.readUInt16LE(pe + 6)
  const timestamp = file.readUInt32LE(pe + 8)
  const optional = pe + 24
  const optionalSize = file.readUInt16LE(pe + 20)
  if (file.readUInt16LE(optional) !== 0x20b) throw new Error('not PE32+')
  const sections = Array.from({ length: sectionCount }, (_, i) => {
    const at = optional + optionalSize + i * 40
    return { address: file.readUInt32LE(at + 12), size: file.readUInt32LE(at + 16), raw: file.readUInt32LE(at + 20) }
  })
  const offsetOf = (rva: number): number => {
    const s = sections.find((x) => rva >= x.address && rva < x.address + x.size)
    if (s === undefined) throw new Error(`RVA ${rva} is in no section`)
    return rva - s.address + s.raw
  }
  const importRva = file.readUInt32LE(optional + 112 + 8) // data directory 1: imports
  const imports: string[] = []
  if (importRva !== 0) {
    for (let at = offsetOf(importRva); ; at += 20) {
      const nameRva = file.readUInt32LE(at + 12)
      if (nameRva === 0) break
      const start = offsetOf(nameRva)
      imports.push(file.toString('latin1', start, file.indexOf(0, start)))
    }
  }
  return { machine, timestamp, imports }
}
