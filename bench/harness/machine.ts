/** The machine and versions a run was made on, for the report. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  mosquitto: string;
  aedes: string;
  mqttjs: string;
  date: string;
  openFiles: string;
  pinning: string;
  /** 1-minute load average when the run started: other work on the machine skews figures. */
  loadAverage: number;
}

function packageVersion(root: string, name: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function describeMachine(root: string): Machine {
  const mosquitto = spawnSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' });
  const version = /mosquitto version (\S+)/.exec(`${mosquitto.stdout}${mosquitto.stderr}`)?.[1] ?? 'unknown';
  const ulimit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  const taskset = spawnSync('taskset', ['-V']).status === 0;
  return {
    cores: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    mosquitto: version,
    aedes: packageVersion(root, 'aedes'),
    mqttjs: packageVersion(root, 'mqtt'),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    openFiles: ulimit,
    loadAverage: Math.round(loadavg()[0]! * 100) / 100,
    pinning: taskset ? 'brokers on core 0, load generator and client publishers on core 1 (taskset)' : 'none (taskset missing)',
  };
}
