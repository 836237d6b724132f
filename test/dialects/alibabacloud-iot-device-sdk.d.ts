// The part of the vendor's device SDK (plain JavaScript, no types of its own) that the dialect tests use.
declare module 'alibabacloud-iot-device-sdk' {
  import type { EventEmitter } from 'node:events';

  export interface DeviceConfig {
    productKey: string;
    deviceName: string;
    deviceSecret: string;
    brokerUrl?: string;
    keepalive?: number;
    clean?: boolean;
  }
  export interface Grant {
    topic: string;
    qos: number;
  }
  export interface Device extends EventEmitter {
    publish(topic: string, payload: string | Buffer, options?: { qos?: 0 | 1 | 2 }, callback?: (error?: Error) => void): void;
    subscribe(topic: string, options: { qos?: 0 | 1 | 2 }, callback?: (error: Error | null, granted?: Grant[]) => void): void;
    postProps(params: Record<string, unknown>, callback?: (reply: unknown) => void): void;
    onProps(callback: (command: { method?: string; params?: Record<string, unknown> }) => void): void;
    end(force?: boolean, callback?: () => void): void;
  }
  const iot: { device(config: DeviceConfig): Device };
  export default iot;
}
