// Ports, by service. The app listens on `web` and `metrics` (its environment's defaults), the
// Dockerfile exposes them (checked by app/test/dockerfile.test.ts), the catalogue wires every
// container with them and Prometheus scrapes them.
export const PORTS = {
  web: 3000,
  metrics: 9464,
  postgres: 5432,
  redis: 6379,
  grafana: 3000,
  prometheus: 9090,
  nodeExporter: 9100,
  cadvisor: 8080,
  postgresExporter: 9187,
  redisExporter: 9121,
  alertmanager: 9093,
} as const;
