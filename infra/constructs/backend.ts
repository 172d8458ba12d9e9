// Where a stack keeps its Terraform state: local files under .state/ by default, or an Azure
// storage account when the configuration names one (azure.remoteState). Cross-stack references
// read the producing stack's state through the same backend, so both stacks use the same kind.
import { relative } from 'node:path';
import { AzurermBackend, LocalBackend, type TerraformStack } from 'cdktf';
import type { SharedConfig } from '../../templates/config.ts';

export function configureBackend(
  stack: TerraformStack,
  options: {
    config: Pick<SharedConfig, 'azure' | 'name'>;
    stateDir: string;
    outDir: string;
    stackName: string;
  },
): void {
  const { config, stackName } = options;
  const remote = config.azure.remoteState;
  if (remote) {
    new AzurermBackend(stack, {
      resourceGroupName: remote.resourceGroup,
      storageAccountName: remote.storageAccount,
      containerName: remote.container,
      key: `${config.name}.${stackName}.tfstate`,
      // Signs in with the Azure CLI's (or the environment's) identity: no storage key anywhere.
      useAzureadAuth: true,
    });
    return;
  }
  // Terraform runs in <outDir>/stacks/<stack>; the path is relative to there, so the synthesized
  // files name no machine-specific folder.
  const path = relative(
    `${options.outDir}/stacks/${stackName}`,
    `${options.stateDir}/terraform.${stackName}.tfstate`,
  );
  new LocalBackend(stack, { path });
}
