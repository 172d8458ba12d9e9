// Tags on every Azure resource that takes them: an aspect visits each construct of a stack at
// synth time and merges the deployment's tags into any resource with a `tags` argument, so a
// resource added later is tagged without anyone remembering to.
import type { IConstruct } from 'constructs';
import type { IAspect } from 'cdktf';
import type { SharedConfig } from '../../templates/config.ts';

interface Taggable {
  tags: Record<string, string>;
  tagsInput?: Record<string, string>;
}

/** A resource binding with a writable `tags` argument (data sources only read theirs). */
function isTaggable(node: IConstruct): node is IConstruct & Taggable {
  return 'tags' in node && 'tagsInput' in node;
}

export class TagsAspect implements IAspect {
  readonly tags: Record<string, string>;

  constructor(tags: Record<string, string>) {
    this.tags = tags;
  }

  visit(node: IConstruct): void {
    if (isTaggable(node)) node.tags = { ...this.tags, ...(node.tagsInput ?? {}) };
  }
}

/** The tags every resource of a deployment carries: the person's own, then ours. */
export function deploymentTags(
  config: Pick<SharedConfig, 'azure' | 'name'>,
): Record<string, string> {
  return { ...config.azure.tags, project: config.name, 'managed-by': 'cdktf' };
}
