#!/usr/bin/python3
"""The sine tutorial in PyTorch, as the reference for examples/sine_forecast.

Draws the model's initial weights with torch.manual_seed(SEED), writes them as safetensors (names
rnn.*, head.*, as tapegrad's Forecaster), then trains 100 full-batch epochs with Adam lr 0.01 and
prints the loss curve. tapegrad's demo draws the same weights by default (--rng torch, the stream
of Generator::torch(seed)), or starts from the file:

    /usr/bin/python3 scripts/sine_torch_reference.py --seed 0 --init init.safetensors
    ./build/examples/sine_forecast --seed 0
    ./build/examples/sine_forecast --init init.safetensors

Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


class Forecaster(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.LSTM(1, hidden, 1, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--init", default="init.safetensors", help="where to write the initial weights")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = Forecaster(args.hidden)
    safetensors_io.write(args.init, model.state_dict())
    wave = torch.sin(torch.linspace(0, 100, 1000))
    xs = torch.stack([wave[i:i + 10] for i in range(990)]).unsqueeze(-1)
    ys = wave[10:].unsqueeze(-1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
        if epoch == 1 or epoch % 10 == 0:
            print(f"epoch {epoch:4d}/{args.epochs}  loss {loss.item():.3e}  {time.perf_counter() - start:.2f} s")
    print(f"wrote the initial weights to {args.init}")


if __name__ == "__main__":
    main()
