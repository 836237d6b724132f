/** How the harness asks a Node broker process (Culex or Aedes) to start, and what it prints back once listening. */
export interface NodeBrokerConfig {
  /** Add a TLS listener with these PEM files. */
  tls?: { certFile: string; keyFile: string };
  /** Add a WebSocket listener (path `/mqtt`). */
  websockets?: boolean;
  /** Culex only: persist to a LevelDB store in this directory. */
  dataDir?: string;
  /** Culex only: fsync every store batch. */
  fsync?: boolean;
  /** Culex only: limits overriding the defaults, to try a setting's effect (BENCH_CULEX_LIMITS). */
  limits?: Record<string, number>;
}

export interface BrokerPorts {
  port: number;
  tlsPort?: number;
  wsPort?: number;
}

export function readConfig(): NodeBrokerConfig {
  return JSON.parse(process.argv[2] ?? '{}') as NodeBrokerConfig;
}

/** Prints the bound ports (the harness waits for this line) and stops cleanly on SIGTERM or SIGINT. */
export function announce(ports: BrokerPorts, close: () => Promise<void>): void {
  process.stdout.write(JSON.stringify(ports) + '\n');
  const stop = (): void => {
    // A clean exit lets --cpu-prof write its profile.
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
