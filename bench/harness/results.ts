/** Everything one harness run measured, as written to .bench-out/results.json and turned into the report. */
import type { ClientResult } from '../client/publisher.js';
import type { LoadResult } from '../load/spec.js';
import type { Machine } from './machine.js';
import type { TargetName } from './processes.js';
import type { Scenario, Settings } from './scenarios.js';

export interface ScenarioResults {
  id: string;
  title: string;
  metric: Scenario['metric'];
  targets: TargetName[];
  runs: Partial<Record<TargetName, LoadResult[]>>;
  errors: string[];
}

export interface ClientResults {
  qos: 0 | 1;
  culex: ClientResult[];
  mqttjs: ClientResult[];
}

export interface Results {
  machine: Machine;
  /** 1-minute load average when the run ended. */
  loadAverageEnd?: number;
  settings: Settings;
  rounds: number;
  /** Rounds of the latency scenarios (absent in results from before they had their own). */
  latencyRounds?: number;
  command: string;
  /** Culex limits that overrode the defaults in this run. */
  culexLimits?: Record<string, number>;
  scenarios: ScenarioResults[];
  client: ClientResults[];
  /** Output of bench/codec.ts and bench/topic.ts. */
  codec?: string;
  topic?: string;
}

export const targetLabel: Record<TargetName, string> = {
  culex: 'Culex',
  aedes: 'Aedes',
  mosquitto: 'Mosquitto',
  'culex-store': 'Culex, LevelDB store',
  'culex-fsync': 'Culex, LevelDB store + fsync',
  'mosquitto-persist': 'Mosquitto, persistence true (autosave_interval 1800)',
};
