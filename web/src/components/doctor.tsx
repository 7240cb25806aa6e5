import { api } from '../api';
import { useLoad } from '../lib/use-load';
import { RichText } from './rich-text';
import { ErrorNotice, Loading } from './ui';

const STATUS_LABEL: Record<string, string> = { pass: 'Pass', fail: 'Fail', warn: 'Warning', skip: 'Skipped' };

/** `patchbay doctor <name>`'s findings, layer by layer, each with its fix. */
export function DoctorFindings({ name }: { name: string }) {
  const doctor = useLoad(() => api.doctor(name), name);
  return (
    <section
      class="doctor"
      aria-label={`Doctor findings for ${name}`}
      data-testid="doctor-findings"
      aria-busy={doctor.loading}
    >
      {doctor.loading && !doctor.data ? <Loading label={`Checking ${name} layer by layer…`} /> : null}
      <ErrorNotice error={doctor.error} />
      {doctor.data ? (
        <>
          <p class="doctor-verdict">
            Verdict: <strong>{doctor.data.verdict}</strong>
          </p>
          <ol class="findings">
            {doctor.data.findings.map((finding, index) => (
              <li key={index} class={`finding finding-${finding.status}`}>
                <span class={`finding-status finding-status-${finding.status}`}>
                  {STATUS_LABEL[finding.status] ?? finding.status}
                </span>
                <div class="finding-body">
                  <p>
                    <strong>{finding.layer}</strong> — <RichText text={finding.summary} />
                  </p>
                  {finding.fix ? (
                    <p class="finding-fix">
                      <RichText text={finding.fix} />
                    </p>
                  ) : null}
                </div>
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}
