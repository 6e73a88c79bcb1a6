using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Pci.Bars;

/// <summary>
/// Carries a bus access to a function's BARs: splits it into pieces the BAR takes and routes each to the BAR's
/// shared memory, its device handler, or the MSI-X table and PBA the framework serves. A function in D3hot does
/// not decode its BARs (reads all-ones, writes dropped, reported), and a piece no width fits is refused (logged).
/// Called by <see cref="PciFunction"/> with the function lock held; it takes no lock of its own.
/// </summary>
internal sealed partial class BarAccessRouter(string function, PciBar?[] bars, MsixCapability? msix, InterruptController interrupts,
    DriverChecker checker, ILogger logger)
{
    /// <summary>
    /// A read of <paramref name="data"/>.Length bytes at <paramref name="offset"/> of BAR <paramref name="bar"/>
    /// (validated by the transport); <paramref name="inD3Hot"/>: the function does not decode its BARs now.
    /// </summary>
    public void Read(int bar, ulong offset, Span<byte> data, bool inD3Hot)
    {
        var b = bars[bar] ?? throw new ArgumentOutOfRangeException(nameof(bar));
        if (inD3Hot)
        {
            data.Fill(0xFF);
            LogD3Access(logger, function, "read", bar, offset);
            ReportD3Access(bar, offset, "read");
            return;
        }

        var msix = MsixIn(bar);
        if (msix is null && b.Memory is not null)
        {
            if (!b.Memory.TryRead(offset, data))
            {
                data.Fill(0xFF);
            }

            return;
        }

        int done = 0;
        while (done < data.Length)
        {
            ulong at = offset + (ulong)done;
            bool framework = msix is not null && (msix.InTable(bar, at, 1) || msix.InPba(bar, at, 1));
            var widths = framework || b.Memory is not null ? AccessSizes.All : b.AccessSizes;
            if (!widths.TryPickSplit(at, data.Length - done, out var size))
            {
                LogRefusedAccess(logger, function, "read", bar, at, data.Length - done);
                data[done..].Fill(0xFF);
                return;
            }

            var piece = data.Slice(done, (int)size);
            if (framework)
            {
                ulong v = msix!.InPba(bar, at, 1) ? ReadPba(msix, at, size) : msix.ReadTable(at, size);
                BusBytes.Store(piece, v);
            }
            else if (b.Memory is not null)
            {
                b.Memory.TryRead(at, piece);
            }
            else
            {
                BusBytes.Store(piece, b.Handler!.Read(at, size));
            }

            done += (int)size;
        }
    }

    /// <summary>A write to BAR <paramref name="bar"/>; see <see cref="Read"/>. Refused pieces are dropped (logged).</summary>
    public void Write(int bar, ulong offset, ReadOnlySpan<byte> data, bool inD3Hot)
    {
        var b = bars[bar] ?? throw new ArgumentOutOfRangeException(nameof(bar));
        if (inD3Hot)
        {
            LogD3Access(logger, function, "write", bar, offset);
            ReportD3Access(bar, offset, "write");
            return;
        }

        var msix = MsixIn(bar);
        if (msix is null && b.Memory is not null)
        {
            b.Memory.TryWrite(offset, data);
            return;
        }

        int done = 0;
        while (done < data.Length)
        {
            ulong at = offset + (ulong)done;
            bool table = msix is not null && msix.InTable(bar, at, 1);
            bool pba = msix is not null && msix.InPba(bar, at, 1);
            var widths = table || pba || b.Memory is not null ? AccessSizes.All : b.AccessSizes;
            if (!widths.TryPickSplit(at, data.Length - done, out var size))
            {
                LogRefusedAccess(logger, function, "write", bar, at, data.Length - done);
                return;
            }

            var piece = data.Slice(done, (int)size);
            if (table)
            {
                msix!.WriteTable(at, size, BusBytes.Load(piece));
            }
            else if (pba)
            {
                // The PBA is read-only (PCI 3.0 §6.8.2.10).
            }
            else if (b.Memory is not null)
            {
                b.Memory.TryWrite(at, piece);
            }
            else
            {
                b.Handler!.Write(at, size, BusBytes.Load(piece));
            }

            done += (int)size;
        }
    }

    private void ReportD3Access(int bar, ulong offset, string kind) =>
        checker.Report(FunctionRules.MmioInD3Hot, new ViolationDetails
        {
            What = $"{kind} of BAR{bar}+0x{offset:x} while the function is in D3hot (the function does not decode its BARs there: reads return all-ones, writes are dropped)",
            Register = checker.RegisterNames?.Invoke(bar, offset),
            RegisterBar = bar,
            RegisterOffset = offset,
        });

    private MsixCapability? MsixIn(int bar) =>
        msix is { } m && (m.TableBar == bar || m.PbaBar == bar) ? m : null;

    private ulong ReadPba(MsixCapability msix, ulong at, AccessSize size)
    {
        ulong rel = at - msix.PbaOffset;
        ulong qword = interrupts.ReadPba((int)(rel / 8));
        return (qword >> (int)(8 * (rel % 8))) & size.Mask();
    }

    // Event ids 2002–2003 of the function's range (2000–2099).
    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "{Function}: refused {Kind} of {Length} B at BAR{Bar}+0x{Offset:x}: no access width of this BAR fits")]
    private static partial void LogRefusedAccess(ILogger logger, string function, string kind, int bar, ulong offset, int length);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "{Function}: BAR{Bar}+0x{Offset:x} {Kind} while in D3hot (dropped)")]
    private static partial void LogD3Access(ILogger logger, string function, string kind, int bar, ulong offset);
}
