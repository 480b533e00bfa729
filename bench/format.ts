// Number formatting shared by the terminal table and the README.

export function duration (ns: number | undefined): string {
  if (ns === undefined || !Number.isFinite(ns)) return '-'
  if (ns < 1_000) return `${ns.toFixed(0)} ns`
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(ns < 10_000_000 ? 2 : 1)} ms`
  return `${(ns / 1_000_000_000).toFixed(2)} s`
}

export function ms (value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-'
  return duration(value * 1e6)
}

export function ratio (value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  if (value >= 100) return `${value.toFixed(0)}×`
  if (value >= 10) return `${value.toFixed(1)}×`
  if (value >= 0.1) return `${value.toFixed(2)}×`
  return `${value.toPrecision(2)}×`
}

export function count (value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return Math.round(value).toLocaleString('en-US')
}

export function percent (value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return `${(value * 100).toFixed(0)} %`
}

export function mib (value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return `${value.toFixed(0)} MiB`
}
