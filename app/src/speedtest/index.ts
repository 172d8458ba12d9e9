// Engine selection: which engine, and where it measures, from the configuration and the run's
// kwargs. With nothing configured the librespeed engine measures against this deployment's own
// target, so a fresh `npm start` produces real (self-test) results offline.
import type { Config } from '../config.ts';
import type { EngineInput, SpeedtestEngine } from './engine.ts';
import { libreSpeedEngine } from './librespeed/engine.ts';
import { fetchServerList, serverFromUrl } from './librespeed/servers.ts';

export const ENGINE_NAMES = ['librespeed', 'ookla'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export type SpeedtestConfig = Pick<
  Config,
  'PORT' | 'SPEEDTEST_SELF_URL' | 'SPEEDTEST_SERVER_LIST_URL' | 'SPEEDTEST_TARGET_PATH'
>;

export function selfTargetUrl(config: SpeedtestConfig): string {
  return (
    config.SPEEDTEST_SELF_URL ?? `http://127.0.0.1:${config.PORT}${config.SPEEDTEST_TARGET_PATH}/`
  );
}

export function createLibreSpeedEngine(config: SpeedtestConfig): SpeedtestEngine {
  const self = serverFromUrl(selfTargetUrl(config));
  return libreSpeedEngine({
    async candidates(input: EngineInput) {
      if (input.servers.length) return input.servers.map(serverFromUrl);
      if (config.SPEEDTEST_SERVER_LIST_URL)
        return fetchServerList(config.SPEEDTEST_SERVER_LIST_URL, input.signal);
      return [{ ...self, name: 'this deployment (self-test)' }];
    },
    isSelfTest: (server) => server.base === self.base,
  });
}

// The Ookla engine's module is light: speedtest-net itself is imported inside run(), so roles that
// never run it do not load it.
export { createOoklaEngine } from './ookla/engine.ts';
