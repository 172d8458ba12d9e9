// The two stacks of a deployment in one cdktf App. "services" reads the VM's address from
// "azure" (a cross-stack reference: cdktf turns it into an output of azure and a remote-state
// lookup in services), so the azure stack is applied first (npm run deploy does it in that order).
import type { App } from 'cdktf';
import type { DeploymentInputs } from './inputs.ts';
import { AzureStack } from './stacks/azure.ts';
import { ServicesStack } from './stacks/services.ts';

export interface Stacks {
  azure: AzureStack;
  services: ServicesStack;
}

/** `outDir` is where the synthesized files end up (relative state paths are computed from it). */
export function buildStacks(app: App, inputs: DeploymentInputs, outDir: string): Stacks {
  const azure = new AzureStack(app, inputs, outDir);
  const services = new ServicesStack(app, inputs, outDir, {
    dockerHost: azure.dockerHost,
    publicAddress: azure.publicIpAddress,
  });
  services.addDependency(azure);
  return { azure, services };
}
