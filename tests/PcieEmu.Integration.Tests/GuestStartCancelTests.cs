using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Harness;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Interop;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// A guest start cancelled while QEMU boots (`pcieemu boot --timeout` on a slow machine) ends as a cancellation with
/// everything it started torn down once: it used to dispose the cards twice and end in an ObjectDisposedException
/// (a stack trace from `boot`, or exit 70 with the last-resort handler).
/// </summary>
public sealed class GuestStartCancelTests
{
    [Fact]
    public async Task A_start_cancelled_while_qemu_boots_is_a_cancellation_and_leaves_nothing_running()
    {
        using var cts = new CancellationTokenSource();
        string work = Directory.CreateTempSubdirectory("pcieemu-cancel-").FullName;
        var options = new GuestSessionOptions { WorkDirectory = work };

        // The last step is reported just before the servers and QEMU start: cancel there, deterministically.
        var progress = new CancelOnLastStep(cts);
        var start = () => GuestSession.StartAsync(options, NullLoggerFactory.Instance, progress, cts.Token);

        try
        {
            await start.Should().ThrowAsync<OperationCanceledException>();
            progress.Cancelled.Should().BeTrue("provisioning reached the QEMU step");
            FileStatus.OfLink(Path.Combine(work, "vu0.sock")).Should().BeNull("the card server was stopped and removed its socket");
            string cmdline = await File.ReadAllTextAsync(Path.Combine(work, "qemu.cmdline"));
            Process.GetProcesses().Where(p => SafeCommandLine(p).Contains(work, StringComparison.Ordinal))
                .Should().BeEmpty($"no QEMU of this start may survive it ({cmdline.Length} byte command line)");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string SafeCommandLine(Process p)
    {
        try
        {
            return File.ReadAllText($"/proc/{p.Id}/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>Synchronous (Progress&lt;T&gt; would post to the thread pool and race the start).</summary>
    private sealed class CancelOnLastStep(CancellationTokenSource cts) : IProgress<ProvisionStep>
    {
        public bool Cancelled { get; private set; }

        public void Report(ProvisionStep value)
        {
            if (value.Index == value.Count)
            {
                Cancelled = true;
                cts.Cancel();
            }
        }
    }
}
