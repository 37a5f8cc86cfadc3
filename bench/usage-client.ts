// The measuring side of bench/usage.ts, a separate OS process from the server it measures, as a browser or a
// billing system would be: given a JSON job as its only argument, it checks every route once, then times each one
// over HTTP (keep-alive), and prints one JSON line of medians and 95th percentiles on stdout.

export interface UsageCase {
  readonly name: string;
  readonly route: string;
  /** Rows the JSON answer must hold, checked once before timing. */
  readonly rows?: number;
}

export interface UsageClientJob {
  readonly base: string;
  readonly runs: number;
  readonly cases: readonly UsageCase[];
}

export interface UsageTiming {
  readonly name: string;
  readonly median: number;
  readonly p95: number;
}

/** One request, timed from sending it until the whole body is read. */
async function get(base: string, route: string): Promise<string> {
  const res = await fetch(base + route);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${route.slice(0, 80)}: ${res.status} ${text.slice(0, 200)}`);
  return text;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] as string) as UsageClientJob;
  for (const c of job.cases) {
    const text = await get(job.base, c.route);
    if (c.rows !== undefined) {
      const got = (JSON.parse(text) as { rows: unknown[] }).rows.length;
      if (got !== c.rows) throw new Error(`${c.name}: ${got} rows, not ${c.rows}`);
    }
  }
  const timings: UsageTiming[] = [];
  for (const c of job.cases) {
    for (let i = 0; i < 3; i++) await get(job.base, c.route); // warm up
    const times: number[] = [];
    for (let i = 0; i < job.runs; i++) {
      const t = performance.now();
      await get(job.base, c.route);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    timings.push({
      name: c.name,
      median: times[Math.floor(times.length / 2)] as number,
      p95: times[Math.floor(times.length * 0.95)] as number,
    });
  }
  process.stdout.write(`${JSON.stringify(timings)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`usage-client: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
