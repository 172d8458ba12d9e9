// A step of a Container Apps deployment that Terraform's azurerm resources cannot take: building
// an image in the registry, importing a pinned one, running a job to its end, binding a managed
// certificate. Each is a terraform_data resource whose local-exec runs the Azure CLI on the
// machine that deploys (signed in with `az login`, as the provider is), with every value passed in
// the environment rather than spliced into the script, and a trigger that reruns it exactly when
// its inputs change.
import { Construct } from 'constructs';
import { DataResource, type ITerraformDependable } from 'cdktf';

export interface AzStepProps {
  /** What the step does, for the plan and the error. */
  description: string;
  /** A POSIX shell script; it reads its inputs from the environment. */
  script: string;
  environment: Record<string, string>;
  /** Rerun when any of these change (the step is replaced). */
  triggers: Record<string, string>;
  workingDir?: string;
  dependsOn?: ITerraformDependable[];
}

export class AzStep extends Construct {
  readonly resource: DataResource;

  constructor(scope: Construct, id: string, props: AzStepProps) {
    super(scope, id);
    this.resource = new DataResource(this, 'run', {
      input: { description: props.description },
      triggersReplace: props.triggers,
      dependsOn: props.dependsOn,
      provisioners: [
        {
          type: 'local-exec',
          interpreter: ['/bin/sh', '-c'],
          // -e: the first failing command fails the step, and the apply with it.
          command: `set -eu\n${props.script}`,
          environment: props.environment,
          ...(props.workingDir ? { workingDir: props.workingDir } : {}),
        },
      ],
    });
  }
}

/**
 * Builds an image in the registry from a local context (no Docker needed on the laptop); $BASE,
 * when set, is the Dockerfile's base image (an image already imported into the registry).
 */
export const ACR_BUILD = `if [ -n "$BASE" ]; then set -- --build-arg "BASE=$BASE"; else set --; fi
az acr build --registry "$REGISTRY" --image "$IMAGE" --file "$DOCKERFILE" --no-logs "$@" "$CONTEXT" >/dev/null
echo "built $IMAGE in $REGISTRY"`;

/** Copies a pinned public image into the registry, so every app pulls from it by identity. */
export const ACR_IMPORT = `if az acr repository show --name "$REGISTRY" --image "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE is already in $REGISTRY"
else
  az acr import --name "$REGISTRY" --source "$SOURCE" --image "$IMAGE" >/dev/null
  echo "imported $SOURCE as $IMAGE"
fi`;

/**
 * Starts a Container Apps job and waits for its execution to end (asking every $POLL_SECONDS);
 * fails with the job's own verdict (and where its logs are) when it does not succeed within
 * $MINUTES.
 */
export const RUN_JOB = `execution=$(az containerapp job start --name "$JOB" --resource-group "$GROUP" --query name --output tsv)
echo "started $JOB ($execution)"
deadline=$(( $(date +%s) + MINUTES * 60 ))
while :; do
  status=$(az containerapp job execution show --name "$JOB" --resource-group "$GROUP" --job-execution-name "$execution" --query properties.status --output tsv)
  case "$status" in
    Succeeded) echo "$JOB succeeded"; exit 0 ;;
    Failed|Stopped|Degraded)
      echo "$JOB $status: az containerapp job logs show --name $JOB --resource-group $GROUP --execution $execution --container $JOB" >&2
      exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$JOB still $status after $MINUTES minutes" >&2; exit 1
  fi
  sleep "$POLL_SECONDS"
done`;

/**
 * Binds a free managed certificate to a custom domain (azurerm has no resource for managed
 * certificates): Azure validates the CNAME and renews the certificate itself. First it waits (up
 * to $MINUTES) for the CNAME to resolve publicly: a new zone answers only once its parent
 * delegates to it ($HINT says how).
 */
export const BIND_HOSTNAME = `if ! node -e "$WAIT_FOR_CNAME" "$DOMAIN_NAME" 0 2>/dev/null; then
  echo "waiting until $DOMAIN_NAME resolves ($HINT)"
  node -e "$WAIT_FOR_CNAME" "$DOMAIN_NAME" "$MINUTES"
fi
az containerapp hostname bind --hostname "$DOMAIN_NAME" --name "$APP" --resource-group "$GROUP" --environment "$ENVIRONMENT" --validation-method CNAME >/dev/null
echo "https://$DOMAIN_NAME has a managed certificate"`;

/** Node (the deploy's own runtime) polls public DNS for a CNAME: no dig or nslookup needed. */
export const WAIT_FOR_CNAME = [
  'const [name, minutes] = process.argv.slice(1);',
  "const dns = require('node:dns').promises;",
  // DNS_SERVERS (comma-separated) from the deploying shell: ask those instead of the system's.
  "if (process.env.DNS_SERVERS) dns.setServers(process.env.DNS_SERVERS.split(','));",
  'const end = Date.now() + Number(minutes) * 60000;',
  '(async () => {',
  '  for (;;) {',
  '    try { await dns.resolveCname(name); return; } catch {}',
  "    if (Date.now() >= end) { console.error('no CNAME for ' + name + ' after ' + minutes + ' min'); process.exit(1); }",
  '    await new Promise((done) => setTimeout(done, 15000));',
  '  }',
  '})();',
].join('\n');
