using PcieEmu.Harness.Provisioning;
using Spectre.Console;

namespace PcieEmu.Cli;

/// <summary>
/// Shows provisioning progress: a live bar on a terminal, plain "[i/n] step" lines on stderr otherwise
/// (CI logs), so a person waiting always sees what is happening.
/// </summary>
internal static class ProgressDisplay
{
    public static Task<T> RunAsync<T>(string title, Func<IProgress<ProvisionStep>, Task<T>> work) =>
        RunAsync(title, (progress, _) => work(progress));

    /// <summary>
    /// As above, plus lines to keep (a driver build's warnings): printed as they come, above a live bar, on stderr
    /// otherwise.
    /// </summary>
    public static async Task<T> RunAsync<T>(string title, Func<IProgress<ProvisionStep>, IProgress<string>, Task<T>> work)
    {
        if (!Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            T result = default!;
            await AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(title);
                    var progress = new SynchronousProgress<ProvisionStep>(s =>
                    {
                        task.MaxValue = Math.Max(1, s.Count);
                        task.Value = Math.Max(0, s.Index - 1);
                        task.Description = $"{title}: {Markup.Escape(s.Text)}";
                    });
                    // Written through AnsiConsole, a line lands above the live bar instead of through it.
                    result = await work(progress, new SynchronousProgress<string>(line => AnsiConsole.Console.WriteLine(line)));
                    task.Value = task.MaxValue;
                });
            return result;
        }

        return await work(new SynchronousProgress<ProvisionStep>(s => Console.Error.WriteLine($"[{s.Index}/{s.Count}] {title}: {s.Text}")),
            new SynchronousProgress<string>(Console.Error.WriteLine));
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
